//! `tx compare` (the role of Theano's DebugMode): the graph as written
//! (`-O0`) and the optimized graph run on the reference interpreter with
//! the same inputs and the same parameter values, and every output is
//! compared.
//!
//! Floats agree when `|a - b| <= atol + rtol * |a|` (`a` the `-O0` value)
//! wherever both are finite. An element that is NaN or infinite at `-O0`
//! but finite after optimization is counted, not a failure: stabilization
//! does exactly that. The reverse, an element that the optimizer made
//! non-finite, is a failure. Integers and booleans must be equal.

use std::time::{Duration, Instant};

use tx_ir::{DType, NodeId};
use tx_tensor::Tensor;

use crate::Failure;
use crate::args::CompareArgs;
use crate::commands::{
    BindFlags, compile, optimize, read_source, runtime_failure, step_model, write_line, write_stdout,
};
use crate::format::{duration, json_number, json_object, json_string};

/// The default tolerances: (relative, absolute).
const F32_TOLERANCE: (f64, f64) = (1e-3, 1e-4);
const F64_TOLERANCE: (f64, f64) = (1e-7, 1e-9);

pub fn compare(args: &CompareArgs) -> Result<(), Failure> {
    let flags = BindFlags::parse(&args.bind)?;
    let source = read_source(&args.file)?;
    let model = compile(&source)?;
    let model = if args.updates { step_model(&model, args.rule.as_deref())? } else { model };
    let graph = &model.graph;

    // Every named value: the outputs, then the loss and the metrics.
    let mut targets: Vec<(String, NodeId)> = graph.outputs().to_vec();
    for (name, id) in model.loss.map(|l| ("loss".to_string(), l)).into_iter().chain(model.metrics.iter().cloned()) {
        if !targets.iter().any(|(n, _)| *n == name) {
            targets.push((name, id));
        }
    }
    if targets.is_empty() {
        return Err(Failure::user(format!(
            "error: `{}` has nothing to compare: declare an `output` (or a `loss` or `metric`)",
            source.name
        )));
    }
    let values = flags.bind(&args.bind, graph, &source)?;
    let level = args.opt.level.level();
    let nodes: Vec<NodeId> = targets.iter().map(|(_, id)| *id).collect();
    let optimized = optimize(graph, &nodes, level)?;

    // The parameters are initialized once, and both graphs read them.
    let params = tx_interp::init_params(graph);
    let params: Vec<(&str, &Tensor)> = params.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let inputs: Vec<(&str, &Tensor)> = values.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let start = Instant::now();
    let plain =
        tx_interp::evaluate(graph, &inputs, &params, &nodes).map_err(|e| runtime_failure(&e, graph, &source))?;
    let plain_time = start.elapsed();
    let start = Instant::now();
    let fast = crate::commands::Engine::new(args.backend.backend, &optimized.graph, &optimized.roots, false)
        .and_then(|mut engine| engine.run(&inputs, &params))
        .map_err(|e| {
            let failure = runtime_failure(&e, &optimized.graph, &source);
            Failure::user(format!(
                "error: the {} graph fails on the {} where the -O0 graph runs on the interpreter (a bug in tx):\n{}",
                level.name(),
                match args.backend.backend {
                    crate::args::Backend::Jit => "JIT",
                    crate::args::Backend::Interp => "interpreter",
                },
                failure.message
            ))
        })?;
    let fast_time = start.elapsed();

    let diffs: Vec<Diff> = targets
        .iter()
        .zip(plain.iter().zip(&fast))
        .map(|((name, _), (a, b))| Diff::of(name, a, b, (args.rtol, args.atol)))
        .collect();
    let failed: Vec<&str> = diffs.iter().filter(|d| !d.ok()).map(|d| d.name.as_str()).collect();
    let report = &optimized.report;
    if args.json {
        let outputs = json_object(diffs.iter().map(|d| (d.name.as_str(), d.json())));
        write_line(&json_object([
            ("outputs", outputs),
            ("level", json_string(level.name())),
            ("o0_seconds", json_number(plain_time.as_secs_f64())),
            ("o2_seconds", json_number(fast_time.as_secs_f64())),
            ("opt_seconds", json_number(report.seconds())),
            ("nodes_before", report.nodes_before.to_string()),
            ("nodes_after", report.nodes_after.to_string()),
            ("kernels", report.kernels.to_string()),
            ("ok", failed.is_empty().to_string()),
        ]));
    } else {
        let kernels = match report.kernels {
            1 => ", 1 fused kernel".to_string(),
            n => format!(", {n} fused kernels"),
        };
        let mut out = format!(
            "{}: -O0 ({} nodes) against {} ({} nodes{kernels}), same inputs and parameters\n",
            source.name,
            report.nodes_before,
            level.name(),
            report.nodes_after,
        );
        let rows: Vec<[String; 5]> = diffs.iter().map(|d| d.row(level)).collect();
        let header = ["output", "type", "max abs", "max rel", "verdict"].map(String::from);
        let mut widths = [0usize; 4];
        for row in std::iter::once(&header).chain(&rows) {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        for row in std::iter::once(&header).chain(&rows) {
            let cells: Vec<String> = widths.iter().zip(row).map(|(w, cell)| format!("{cell:<w$}")).collect();
            out.push_str(&format!("  {}  {}\n", cells.join("  "), row[4]));
        }
        out.push_str(&format!(
            "time: -O0 {}, {} {} (optimizing took {})\n",
            duration(plain_time),
            level.name(),
            duration(fast_time),
            duration(Duration::from_secs_f64(report.seconds()))
        ));
        if failed.is_empty() {
            out.push_str("ok: every output agrees within the tolerance\n");
        }
        write_stdout(&out);
    }
    if failed.is_empty() {
        Ok(())
    } else {
        let number = |v: f64| if v == 0.0 { "0".to_string() } else { format!("{v:e}") };
        let (rtol32, atol32) = tolerance(DType::F32, (args.rtol, args.atol));
        let (rtol64, atol64) = tolerance(DType::F64, (args.rtol, args.atol));
        let (rtol32, atol32, rtol64, atol64) = (number(rtol32), number(atol32), number(rtol64), number(atol64));
        Err(Failure::user(format!(
            "error: {} of `{}` differ{} between -O0 and {}: {}\n\
             note: floats agree when |a - b| <= atol + rtol * |a| (f32: {atol32} + {rtol32} * |a|, f64: {atol64} + {rtol64} * |a|; --rtol and --atol change them); integers and booleans must be equal",
            if failed.len() == 1 { "an output".to_string() } else { format!("{} outputs", failed.len()) },
            source.name,
            if failed.len() == 1 { "s" } else { "" },
            level.name(),
            failed.join(", ")
        )))
    }
}

/// The (relative, absolute) tolerance for floats of `dtype`, with the
/// command line's overrides.
fn tolerance(dtype: DType, (rtol, atol): (Option<f64>, Option<f64>)) -> (f64, f64) {
    let (default_rtol, default_atol) = if dtype == DType::F64 { F64_TOLERANCE } else { F32_TOLERANCE };
    (rtol.unwrap_or(default_rtol), atol.unwrap_or(default_atol))
}

/// How one output differs between `-O0` (`a`) and the optimized graph (`b`).
struct Diff {
    name: String,
    ty: String,
    /// Floats are compared within a tolerance, integers and booleans exactly.
    exact: bool,
    /// The largest |a - b| and |a - b| / max(|a|, |b|) over the elements
    /// where both are finite.
    max_abs: f64,
    max_rel: f64,
    /// Elements beyond the tolerance (floats) or not equal (exact).
    beyond: usize,
    /// Non-finite at `-O0`, finite after optimization (stabilization).
    stabilized: usize,
    /// Finite at `-O0`, non-finite after optimization (a failure).
    destabilized: usize,
    /// The optimized value has another type (a bug in a rewrite).
    type_differs: Option<String>,
}

impl Diff {
    fn of(name: &str, a: &Tensor, b: &Tensor, overrides: (Option<f64>, Option<f64>)) -> Diff {
        let mut diff = Diff {
            name: name.to_string(),
            ty: a.ty().to_string(),
            exact: !a.dtype().is_float(),
            max_abs: 0.0,
            max_rel: 0.0,
            beyond: 0,
            stabilized: 0,
            destabilized: 0,
            type_differs: None,
        };
        if a.ty() != b.ty() {
            diff.type_differs = Some(b.ty().to_string());
            return diff;
        }
        if let (Tensor::I64(x), Tensor::I64(y)) = (a, b) {
            for (&x, &y) in x.iter().zip(y) {
                let abs = (i128::from(x) - i128::from(y)).unsigned_abs() as f64;
                diff.max_abs = diff.max_abs.max(abs);
                if x != y {
                    diff.max_rel = diff.max_rel.max(abs / (x.unsigned_abs().max(y.unsigned_abs()) as f64));
                    diff.beyond += 1;
                }
            }
            return diff;
        }
        let (rtol, atol) = tolerance(a.dtype(), overrides);
        // f32 and bool convert to f64 exactly.
        for (x, y) in a.to_f64s().into_iter().zip(b.to_f64s()) {
            match (x.is_finite(), y.is_finite()) {
                (true, true) => {
                    let abs = (x - y).abs();
                    let scale = x.abs().max(y.abs());
                    let rel = if abs == 0.0 { 0.0 } else { abs / scale };
                    diff.max_abs = diff.max_abs.max(abs);
                    diff.max_rel = diff.max_rel.max(rel);
                    let within = if diff.exact { x == y } else { abs <= atol + rtol * x.abs() };
                    if !within {
                        diff.beyond += 1;
                    }
                }
                (false, true) => diff.stabilized += 1,
                (true, false) => diff.destabilized += 1,
                (false, false) => {}
            }
        }
        diff
    }

    fn ok(&self) -> bool {
        self.type_differs.is_none() && self.beyond == 0 && self.destabilized == 0
    }

    /// The cells of the text table: name, type, max abs, max rel, verdict.
    fn row(&self, level: tx_opt::Level) -> [String; 5] {
        let number = |v: f64| if v == 0.0 { "0".to_string() } else { format!("{v:.3e}") };
        let mut verdict = Vec::new();
        if let Some(other) = &self.type_differs {
            verdict.push(format!("DIFFERS: the {} value is {other}", level.name()));
        }
        if self.beyond > 0 {
            let what = if self.exact { "not equal" } else { "beyond the tolerance" };
            verdict.push(format!("DIFFERS: {} element{} {what}", self.beyond, if self.beyond == 1 { "" } else { "s" }));
        }
        if self.destabilized > 0 {
            verdict.push(format!(
                "DIFFERS: {} finite element{} at -O0 not finite at {}",
                self.destabilized,
                if self.destabilized == 1 { "" } else { "s" },
                level.name()
            ));
        }
        if verdict.is_empty() {
            verdict.push(if self.exact { "ok (equal)".to_string() } else { "ok".to_string() });
        }
        if self.stabilized > 0 {
            verdict.push(format!(
                "{} element{} not finite at -O0 finite at {}",
                self.stabilized,
                if self.stabilized == 1 { "" } else { "s" },
                level.name()
            ));
        }
        [self.name.clone(), self.ty.clone(), number(self.max_abs), number(self.max_rel), verdict.join("; ")]
    }

    fn json(&self) -> String {
        json_object([
            ("max_abs", json_number(self.max_abs)),
            ("max_rel", json_number(self.max_rel)),
            ("beyond_tolerance", self.beyond.to_string()),
            ("stabilized", self.stabilized.to_string()),
            ("destabilized", self.destabilized.to_string()),
            ("ok", self.ok().to_string()),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{ArrayD, IxDyn};

    fn f32s(v: &[f32]) -> Tensor {
        Tensor::F32(ArrayD::from_shape_vec(IxDyn(&[v.len()]), v.to_vec()).unwrap())
    }

    fn f64s(v: &[f64]) -> Tensor {
        Tensor::F64(ArrayD::from_shape_vec(IxDyn(&[v.len()]), v.to_vec()).unwrap())
    }

    fn i64s(v: &[i64]) -> Tensor {
        Tensor::I64(ArrayD::from_shape_vec(IxDyn(&[v.len()]), v.to_vec()).unwrap())
    }

    const DEFAULTS: (Option<f64>, Option<f64>) = (None, None);

    #[test]
    fn floats_agree_within_the_tolerance_of_their_type() {
        // f32: 1e-4 + 1e-3 |a|.
        let d = Diff::of("y", &f32s(&[1000.0, 0.0]), &f32s(&[1000.5, 5e-5]), DEFAULTS);
        assert!(d.ok(), "{}", d.row(tx_opt::Level::O2)[4]);
        assert_eq!(d.max_abs, 0.5);
        assert_eq!(d.max_rel, 1.0, "5e-5 against 0 is as far as can be, relatively");
        let d = Diff::of("y", &f32s(&[1000.0, 0.0]), &f32s(&[1002.0, 0.0]), DEFAULTS);
        assert_eq!((d.ok(), d.beyond), (false, 1));
        // f64 is stricter: 1e-9 + 1e-7 |a|.
        let d = Diff::of("y", &f64s(&[1.0]), &f64s(&[1.0 + 1e-6]), DEFAULTS);
        assert!(!d.ok());
        assert!(Diff::of("y", &f64s(&[1.0]), &f64s(&[1.0 + 1e-6]), (Some(1e-5), None)).ok());
        assert!(!Diff::of("y", &f64s(&[0.0]), &f64s(&[1e-12]), (None, Some(0.0))).ok());
    }

    #[test]
    fn non_finite_values_are_counted_apart() {
        let inf = f64::INFINITY;
        let d = Diff::of("y", &f64s(&[-inf, f64::NAN, 1.0, inf]), &f64s(&[-800.0, 3.0, 1.0, inf]), DEFAULTS);
        assert!(d.ok(), "stabilization turns infinities into numbers");
        assert_eq!((d.stabilized, d.destabilized, d.max_abs), (2, 0, 0.0));
        let d = Diff::of("y", &f64s(&[-800.0, 1.0]), &f64s(&[-inf, 1.0]), DEFAULTS);
        assert!(!d.ok(), "the optimizer must not lose a finite value");
        assert_eq!(d.destabilized, 1);
        assert!(d.row(tx_opt::Level::O2)[4].contains("not finite at -O2"));
    }

    #[test]
    fn integers_must_be_equal_and_types_must_match() {
        assert!(Diff::of("k", &i64s(&[1, 2, i64::MAX]), &i64s(&[1, 2, i64::MAX]), DEFAULTS).ok());
        let d = Diff::of("k", &i64s(&[1, 2, i64::MAX]), &i64s(&[1, 3, i64::MAX - 1]), DEFAULTS);
        assert_eq!((d.ok(), d.beyond, d.max_abs), (false, 2, 1.0));
        let d = Diff::of("y", &f32s(&[1.0]), &f64s(&[1.0]), DEFAULTS);
        assert!(!d.ok());
        assert!(d.row(tx_opt::Level::O1)[4].contains("the -O1 value is f64[1]"));
        assert!(d.json().contains("\"ok\": false"));
    }
}
