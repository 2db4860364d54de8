//! `tx bench`: the workloads of `shared/bench/peers.py` (same names, shapes
//! and formulas), timed the way peers.py times its peers, printed as one
//! JSON line per result in the form `peers.py --external` reads.
//!
//! Each workload is a `.tx` program compiled the way `tx run` compiles one
//! (parse, optimize at -O2, JIT); `mlp_step` is the SGD training step of
//! the 784-240×7-10 tanh network, built by the backprop rule, whose
//! parameters take their next values in place after every call.

use std::process::Command as Process;
use std::time::Instant;

use tx_ir::{NodeId, Op};
use tx_tensor::Tensor;
use tx_tensor::rng::Rng;

use crate::Failure;

/// The workloads `--workload` accepts (peers.py's names).
pub const WORKLOADS: [&str; 7] =
    ["ew_fused", "ew_broadcast", "reduce", "softmax_xent", "matmul", "mlp_step", "compile_big"];

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// A workload of peers.py, a comma-separated list, or `all`.
    #[arg(long, default_value = "all")]
    pub workload: String,
    /// Threads for kernels and GEMM.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Timed samples per result.
    #[arg(long, default_value_t = 10)]
    pub repeats: usize,
    /// Calls before timing (the first one, timed apart, included).
    #[arg(long, default_value_t = 2)]
    pub warmup: usize,
    /// Element type of the data: f32 or f64.
    #[arg(long, default_value = "f32")]
    pub dtype: String,
    /// Shortest timing sample in seconds (calls per sample are chosen to
    /// last at least this long).
    #[arg(long, default_value_t = 0.05)]
    pub min_sample: f64,
    /// Internal: the compile-time probe that `compile_big` runs in a fresh
    /// process.
    #[arg(long, hide = true)]
    pub probe: bool,
}

/// One compiled workload, ready to call.
pub struct Case {
    pub name: String,
    pub exe: tx_jit::Executable,
    pub inputs: Vec<(String, Tensor)>,
    pub params: Vec<(String, Tensor)>,
    /// Output index → parameter index: the updates swapped in after a call.
    pub updates: Vec<(usize, usize)>,
    pub compile_s: f64,
}

impl Case {
    /// One call (and the parameter updates).
    pub fn step(&mut self) -> Result<(), String> {
        let inputs: Vec<(&str, &Tensor)> = self.inputs.iter().map(|(n, t)| (n.as_str(), t)).collect();
        let mut params: Vec<(&str, &mut Tensor)> = self.params.iter_mut().map(|(n, t)| (n.as_str(), t)).collect();
        self.exe.call_updating(&inputs, &mut params, &self.updates).map_err(|e| e.to_string())?;
        Ok(())
    }
}

fn source(workload: &str, t: &str) -> Option<String> {
    Some(match workload {
        "ew_fused" => format!(
            "input a: {t}[10000000]\ninput b: {t}[10000000]\ninput c: {t}[10000000]\n\
             output out = tanh(a * b + c) * 0.5 + exp(-a * a)\n"
        ),
        "ew_broadcast" => format!("input X: {t}[4096, 4096]\ninput b: {t}[4096]\noutput out = sigmoid(X + b)\n"),
        "reduce.sum" => format!("input X: {t}[4096, 4096]\noutput s = sum(X, axis = 1)\n"),
        "reduce.lse" => format!("input X: {t}[4096, 4096]\noutput l = logsumexp(X, axis = 1)\n"),
        "softmax_xent.fwd" => format!(
            "input L: {t}[1024, 1000]\ninput Y: {t}[1024, 1000]\n\
             output xent = mean(-sum(Y * log_softmax(L, axis = 1), axis = 1))\n"
        ),
        "softmax_xent.grad" => format!(
            "input L: {t}[1024, 1000]\ninput Y: {t}[1024, 1000]\n\
             let cost = mean(-sum(Y * log_softmax(L, axis = 1), axis = 1))\n\
             output xent = cost\noutput dL = grad(cost, L)\n"
        ),
        "matmul" => format!("input A: {t}[1024, 1024]\ninput B: {t}[1024, 1024]\noutput C = A @ B\n"),
        "mlp_step" => mlp_source(t),
        _ => return None,
    })
}

/// The DTP paper's network as peers.py builds it: W ~ N(0,1)/sqrt(fan_in),
/// b = 0, tanh, softmax cross-entropy on one-hot targets, SGD lr 0.01.
pub fn mlp_source(t: &str) -> String {
    let sizes = [784, 240, 240, 240, 240, 240, 240, 240, 10];
    let mut s = format!("input x: {t}[100, 784]\ninput y: {t}[100, 10]\n");
    for (i, w) in sizes.windows(2).enumerate() {
        let std = 1.0 / (w[0] as f64).sqrt();
        s += &format!("param W{i}: {t}[{}, {}] ~ normal(0.0, {std:?}, seed = {})\n", w[0], w[1], i + 1);
        s += &format!("param b{i}: {t}[{}] = 0\n", w[1]);
    }
    s += "let h0 = x\n";
    for i in 0..7 {
        s += &format!("let h{} = tanh(h{i} @ W{i} + b{i})\n", i + 1);
    }
    s += "loss = mean(cross_entropy(h7 @ W7 + b7, y))\n";
    s += "train backprop { optimizer = sgd(lr = 0.01) }\n";
    s
}

fn normal(rng: &mut Rng, shape: &[usize], dtype: tx_ir::DType) -> Tensor {
    let values: Vec<f64> = (0..shape.iter().product()).map(|_| rng.normal()).collect();
    Tensor::from_f64s(dtype, shape, &values).unwrap_or_else(|| Tensor::full(dtype, shape, 0.0))
}

fn one_hot(rng: &mut Rng, rows: usize, classes: usize, dtype: tx_ir::DType) -> Tensor {
    let mut values = vec![0.0; rows * classes];
    for row in 0..rows {
        let label = (rng.next_u64() % classes as u64) as usize;
        values[row * classes + label] = 1.0;
    }
    Tensor::from_f64s(dtype, &[rows, classes], &values).unwrap_or_else(|| Tensor::full(dtype, &[rows, classes], 0.0))
}

/// A workload parsed, optimized and compiled: the graph as built (for its
/// inputs and parameters), the executable, and the updated parameters.
pub struct Compiled {
    pub graph: tx_ir::Graph,
    pub exe: tx_jit::Executable,
    pub update_targets: Vec<(NodeId, NodeId)>,
}

/// Parses, optimizes and compiles a workload: what `compile_big` times.
pub fn compile(name: &str, dtype: &str, threads: usize) -> Result<Compiled, String> {
    let text = source(name, dtype).ok_or(format!("no workload `{name}`"))?;
    let compiled = tx_frontend::compile(&text);
    let mut model =
        compiled.model.ok_or_else(|| format!("workload {name} does not compile: {:?}", compiled.diagnostics))?;
    let mut update_targets: Vec<(NodeId, NodeId)> = Vec::new();
    let mut roots: Vec<NodeId> = model.run_targets().iter().map(|(_, id)| *id).collect();
    if name == "mlp_step" {
        let spec = model.train.first().cloned().ok_or("the mlp_step workload has no train block")?;
        let config = tx_learn::read_spec(&spec).map_err(|e| format!("{e:?}"))?;
        let rule = tx_learn::rule_named(&config.rule).ok_or("no backprop rule")?;
        let run = tx_learn::RunShape { steps_per_epoch: 1, epochs: 1 };
        let step = tx_learn::build_step(&model, rule.as_ref(), &config.optimizer, &config.lr_schedule, 0.0, run)
            .map_err(|e| e.to_string())?;
        roots = vec![step.loss];
        roots.extend(step.updates.iter().map(|(_, value)| *value));
        update_targets = step.updates.clone();
        model.graph = step.graph;
    }
    let optimized = tx_opt::optimize(&model.graph, &roots, &tx_opt::OptConfig::new(tx_opt::Level::O2))
        .map_err(|e| e.to_string())?;
    let options = tx_jit::Options { threads, keep_clif: false };
    let exe = tx_jit::compile(&optimized.graph, &optimized.roots, &options).map_err(|e| e.to_string())?;
    Ok(Compiled { graph: model.graph, exe, update_targets })
}

/// Parses, optimizes and compiles a workload, with its data (N(0,1), seed 0).
pub fn prepare(name: &str, dtype: &str, threads: usize) -> Result<Case, String> {
    let dt = tx_ir::DType::from_name(dtype).filter(|d| d.is_float()).ok_or(format!("--dtype {dtype}: f32 or f64"))?;
    let started = Instant::now();
    let Compiled { graph, exe, update_targets } = compile(name, dtype, threads)?;
    let compile_s = started.elapsed().as_secs_f64();
    let graph = &graph;
    let mut rng = Rng::new(0);
    let mut inputs = Vec::new();
    for &id in graph.inputs() {
        let Op::Input { name: input, ty } = &graph.node(id).op else { continue };
        let shape = ty.shape.resolve(&tx_ir::Bindings::new())?;
        let value = match (name, input.as_str()) {
            ("mlp_step", "x") => {
                let values: Vec<f64> = (0..shape.iter().product()).map(|_| rng.uniform()).collect();
                Tensor::from_f64s(dt, &shape, &values).ok_or("bad shape")?
            }
            (_, "y" | "Y") => one_hot(&mut rng, shape[0], shape[1], dt),
            _ => normal(&mut rng, &shape, dt),
        };
        // numpy's arrays of this size sit on huge pages; so do these.
        inputs.push((input.clone(), tx_jit::huge_page_copy(&value)));
    }
    let params = tx_interp::init_params(graph);
    let mut updates = Vec::new();
    for (k, (target, _)) in update_targets.iter().enumerate() {
        if let Op::Param { name: param, .. } = &graph.node(*target).op
            && let Some(p) = params.iter().position(|(n, _)| n == param)
        {
            updates.push((k + 1, p));
        }
    }
    Ok(Case { name: name.to_string(), exe, inputs, params, updates, compile_s })
}

/// User plus system CPU seconds of this process so far (Linux).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// Times a case the way peers.py's `bench` does: a first call, warm-up
/// calls, then `repeats` samples of enough calls to last `min_sample`.
fn time_case(case: &mut Case, args: &BenchArgs) -> Result<String, String> {
    let t = Instant::now();
    case.step()?;
    let first = t.elapsed().as_secs_f64();
    for _ in 1..args.warmup.max(1) {
        case.step()?;
    }
    let t = Instant::now();
    case.step()?;
    let estimate = t.elapsed().as_secs_f64().max(1e-9);
    let inner = ((args.min_sample / estimate).ceil() as usize).clamp(1, 100_000);
    let mut samples = Vec::with_capacity(args.repeats);
    let (cpu0, wall0) = (cpu_seconds(), Instant::now());
    for _ in 0..args.repeats.max(1) {
        let t = Instant::now();
        for _ in 0..inner {
            case.step()?;
        }
        samples.push(t.elapsed().as_secs_f64() / inner as f64);
    }
    let wall = wall0.elapsed().as_secs_f64().max(1e-9);
    let cpu = match (cpu0, cpu_seconds()) {
        (Some(a), Some(b)) => format!("{:.2}", (b - a) / wall),
        _ => "null".to_string(),
    };
    let mut sorted = samples.clone();
    sorted.sort_by(f64::total_cmp);
    let median = if sorted.len() % 2 == 1 {
        sorted[sorted.len() / 2]
    } else {
        (sorted[sorted.len() / 2 - 1] + sorted[sorted.len() / 2]) / 2.0
    };
    let (kernels, gemms, host) = case.exe.schedule_summary();
    Ok(format!(
        "{{\"workload\": \"{}\", \"peer\": \"tx\", \"median_s\": {median:e}, \"min_s\": {:e}, \"compile_s\": {:e}, \
         \"cpu\": {cpu}, \"inner\": {inner}, \"repeats\": {}, \"extra\": {{\"first_s\": {first:e}, \
         \"kernels\": {}, \"kernel_steps\": {kernels}, \"gemm_steps\": {gemms}, \"interpreter_steps\": {host}, \
         \"peak_bytes\": {}, \"threads\": {}}}}}",
        case.name,
        sorted[0],
        (case.compile_s + first - median).max(0.0),
        samples.len(),
        case.exe.kernel_count(),
        case.exe.peak_bytes(),
        args.threads,
    ))
}

pub fn bench(args: &BenchArgs) -> Result<(), Failure> {
    if args.probe {
        return probe(args);
    }
    let names: Vec<&str> =
        if args.workload == "all" { WORKLOADS.to_vec() } else { args.workload.split(',').map(str::trim).collect() };
    if let Some(bad) = names.iter().find(|n| !WORKLOADS.contains(n)) {
        return Err(Failure::usage(format!(
            "error: --workload {bad}: expected one of {}, or all",
            WORKLOADS.join(", ")
        )));
    }
    if args.threads == 0 {
        return Err(Failure::usage("error: --threads must be at least 1"));
    }
    if !matches!(args.dtype.as_str(), "f32" | "f64") {
        return Err(Failure::usage(format!("error: --dtype {}: expected f32 or f64", args.dtype)));
    }
    for name in names {
        let subs: Vec<&str> = match name {
            "reduce" => vec!["reduce.sum", "reduce.lse"],
            "softmax_xent" => vec!["softmax_xent.fwd", "softmax_xent.grad"],
            "compile_big" => {
                compile_big(args)?;
                continue;
            }
            other => vec![other],
        };
        for sub in subs {
            let mut case = prepare(sub, &args.dtype, args.threads).map_err(|e| Failure::user(format!("error: {e}")))?;
            let line = time_case(&mut case, args).map_err(|e| Failure::user(format!("error: {sub}: {e}")))?;
            println!("{line}");
        }
    }
    Ok(())
}

/// The child of `compile_big`: parse + optimize + JIT of the `mlp_step`
/// training function, then one call, in this fresh process.
fn probe(args: &BenchArgs) -> Result<(), Failure> {
    let mut case = prepare("mlp_step", &args.dtype, args.threads).map_err(|e| Failure::user(format!("error: {e}")))?;
    let t = Instant::now();
    case.step().map_err(|e| Failure::user(format!("error: {e}")))?;
    let first = t.elapsed().as_secs_f64();
    let t = Instant::now();
    case.step().map_err(|e| Failure::user(format!("error: {e}")))?;
    let step = t.elapsed().as_secs_f64();
    println!(
        "PROBE {{\"compile_s\": {:e}, \"first_s\": {first:e}, \"step_s\": {step:e}, \"kernels\": {}}}",
        case.compile_s,
        case.exe.kernel_count()
    );
    Ok(())
}

/// Compile time of the training step in fresh processes: cold (the first)
/// and warm (a second; tx keeps no cache on disk, so only the operating
/// system's caches are warmer).
fn compile_big(args: &BenchArgs) -> Result<(), Failure> {
    let exe = std::env::current_exe().map_err(|e| Failure::user(format!("error: {e}")))?;
    for phase in ["cold", "warm"] {
        let t = Instant::now();
        let output = Process::new(&exe)
            .args(["bench", "--probe", "--threads", &args.threads.to_string(), "--dtype", &args.dtype])
            .output()
            .map_err(|e| Failure::user(format!("error: could not start {}: {e}", exe.display())))?;
        let wall = t.elapsed().as_secs_f64();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let Some(line) = stdout.lines().rev().find_map(|l| l.strip_prefix("PROBE ")) else {
            return Err(Failure::user(format!(
                "error: the compile probe failed: {}",
                String::from_utf8_lossy(&output.stderr)
            )));
        };
        let build_s = json_number(line, "compile_s").unwrap_or(f64::NAN);
        let first_s = json_number(line, "first_s").unwrap_or(f64::NAN);
        let step_s = json_number(line, "step_s").unwrap_or(f64::NAN);
        // As peers.py counts its peers: build + first call - a later call.
        let compile_s = build_s + (first_s - step_s).max(0.0);
        println!(
            "{{\"workload\": \"compile_big.{phase}\", \"peer\": \"tx\", \"median_s\": {compile_s:e}, \
             \"min_s\": {compile_s:e}, \"compile_s\": {compile_s:e}, \"extra\": {{\"build_s\": {build_s:e}, \
             \"first_call_s\": {first_s:e}, \"step_s\": {step_s:e}, \"process_wall_s\": {wall:e}}}}}"
        );
    }
    Ok(())
}

fn json_number(line: &str, key: &str) -> Option<f64> {
    let start = line.find(&format!("\"{key}\": "))? + key.len() + 4;
    let rest = &line[start..];
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    rest[..end].trim().parse().ok()
}
