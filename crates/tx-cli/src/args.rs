//! The command line, declared with clap's derive.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(name = "tx", version, about = "tx: a symbolic tensor-expression compiler", long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a .tx file and print its diagnostics.
    Check {
        /// The .tx file.
        file: PathBuf,
        /// Also print an intermediate form.
        #[arg(long, value_enum)]
        emit: Option<Emit>,
    },
    /// Evaluate a program's outputs on the reference interpreter.
    Run(RunArgs),
    /// Train a model: mini-batches, per-epoch loss and accuracy.
    Train(TrainArgs),
    /// Train a model by every learning rule, one after the other, on the
    /// same data and budget, and print their errors as one table.
    ///
    /// Each rule trains with the settings of its own `train` block (else
    /// those of the first block); the epochs, the batch size and the seed
    /// are the same for all. A rule the model lacks something for is
    /// skipped, with the reason.
    Rules(RulesArgs),
    /// Print the gradient graph of a program's loss with respect to its
    /// parameters (all trainable ones, or those named with --wrt).
    Grad {
        /// The .tx file.
        file: PathBuf,
        /// A parameter (or input) to differentiate with respect to (repeatable).
        #[arg(long, value_name = "NAME", conflicts_with = "updates")]
        wrt: Vec<String>,
        /// Print the whole training step instead: the rule's gradients and
        /// the optimizer's update of every parameter and state (`next_NAME`).
        #[arg(long)]
        updates: bool,
        /// The training step of this learning rule, with its own `train`
        /// block, else the first block's settings (implies --updates).
        #[arg(long, value_name = "RULE", conflicts_with = "wrt")]
        rule: Option<String>,
        /// text: one node per line; dot: Graphviz.
        #[arg(long, value_enum, default_value_t = GraphFormat::Text)]
        format: GraphFormat,
    },
    /// Print a program's graph.
    Graph {
        /// The .tx file.
        file: PathBuf,
        /// text: one node per line; dot: Graphviz.
        #[arg(long, value_enum, default_value_t = GraphFormat::Text)]
        format: GraphFormat,
    },
    /// Optimize a program's graph and show what the optimizer did.
    ///
    /// Prints the graph before and after, node and fused-kernel counts, the
    /// rules that fired, the time of each phase and why saturation stopped.
    Opt(OptArgs),
    /// Compare the optimized graph with the graph as written, on the same
    /// inputs.
    ///
    /// Runs the -O0 graph and the optimized graph on the reference
    /// interpreter with the same inputs and parameter values (Theano's
    /// DebugMode) and reports, per output, the largest absolute and relative
    /// difference; exits 1 when a difference exceeds the tolerance.
    Compare(CompareArgs),
    /// Time the workloads of shared/bench/peers.py on the JIT.
    ///
    /// Prints one JSON line per result, in the form that
    /// `peers.py --external tx="tx bench"` reads.
    Bench(crate::bench::BenchArgs),
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The .tx file.
    pub file: PathBuf,
    #[command(flatten)]
    pub bind: BindArgs,
    #[command(flatten)]
    pub opt: LevelArg,
    /// Write each output as DIR/<name>.npy.
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,
    /// Print one JSON line with every output.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub backend: BackendArg,
    /// Also print an intermediate form: `clif`, the Cranelift IR of every
    /// kernel the JIT compiled for this run (and its machine code).
    #[arg(long, value_enum)]
    pub emit: Option<RunEmit>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum RunEmit {
    Clif,
}

/// Where a program's inputs come from (`tx run`, `tx compare`).
#[derive(Debug, clap::Args)]
pub struct BindArgs {
    /// An input value from a .npy file: NAME=PATH.npy (repeatable).
    #[arg(long = "input", short = 'i', value_name = "NAME=PATH")]
    pub inputs: Vec<String>,
    /// Fill inputs not given with seeded random values.
    #[arg(long, value_name = "SEED")]
    pub random_inputs: Option<u64>,
    /// Size of a symbolic dimension for random inputs: NAME=SIZE (default 4).
    #[arg(long = "dim", value_name = "NAME=SIZE")]
    pub dims: Vec<String>,
    /// Bind inputs from a data set: `digits` (embedded) binds the inputs named
    /// x_train, y_train, x_test, y_test (fixed split) and x, y (all rows).
    #[arg(long, value_name = "DATA")]
    pub data: Option<String>,
}

/// Which engine runs the graph.
#[derive(Debug, clap::Args)]
pub struct BackendArg {
    /// jit: native kernels compiled with Cranelift (the default); interp:
    /// the reference interpreter (the oracle, slow).
    #[arg(long, value_enum, default_value = "jit")]
    pub backend: Backend,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    Jit,
    Interp,
}

/// The optimization level, `-O0`, `-O1` or `-O2` (the default).
#[derive(Debug, clap::Args)]
pub struct LevelArg {
    /// Optimization level: 0 (none), 1 (the cheap rules, one family after
    /// another), 2 (every rule to saturation, then fusion).
    #[arg(short = 'O', value_enum, value_name = "LEVEL", default_value = "2")]
    pub level: OptLevel,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OptLevel {
    #[value(name = "0")]
    O0,
    #[value(name = "1")]
    O1,
    #[value(name = "2")]
    O2,
}

impl OptLevel {
    pub fn level(self) -> tx_opt::Level {
        match self {
            OptLevel::O0 => tx_opt::Level::O0,
            OptLevel::O1 => tx_opt::Level::O1,
            OptLevel::O2 => tx_opt::Level::O2,
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct OptArgs {
    /// The .tx file.
    pub file: PathBuf,
    #[command(flatten)]
    pub opt: LevelArg,
    /// Optimize the whole training step instead: forward, backward and the
    /// optimizer's update of every parameter and state (`next_NAME`).
    #[arg(long)]
    pub updates: bool,
    /// With --updates: the learning rule, with its own `train` block, else
    /// the first block's settings.
    #[arg(long, value_name = "RULE", requires = "updates")]
    pub rule: Option<String>,
    /// text: one node per line; dot: Graphviz.
    #[arg(long, value_enum, default_value_t = GraphFormat::Text)]
    pub format: GraphFormat,
    /// Show the chain of rewrites that makes this output (or `loss`, or a
    /// metric) equal before and after optimization.
    #[arg(long, value_name = "OUTPUT", conflicts_with = "json")]
    pub explain: Option<String>,
    /// Print one JSON line with the counts, the rules, the phases and the
    /// stop reason (no graphs).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct CompareArgs {
    /// The .tx file.
    pub file: PathBuf,
    #[command(flatten)]
    pub bind: BindArgs,
    // The level compared with -O0.
    #[command(flatten)]
    pub opt: LevelArg,
    /// Compare the whole training step instead: the loss, the metrics and
    /// the next value of every parameter and optimizer state (`next_NAME`).
    #[arg(long)]
    pub updates: bool,
    /// With --updates: the learning rule, with its own `train` block, else
    /// the first block's settings.
    #[arg(long, value_name = "RULE", requires = "updates")]
    pub rule: Option<String>,
    /// Relative tolerance (default 1e-3 for f32, 1e-7 for f64): an element
    /// passes when |a - b| <= atol + rtol * |a|, with a the -O0 value.
    #[arg(long, value_name = "RTOL", value_parser = tolerance)]
    pub rtol: Option<f64>,
    /// Absolute tolerance (default 1e-4 for f32, 1e-9 for f64).
    #[arg(long, value_name = "ATOL", value_parser = tolerance)]
    pub atol: Option<f64>,
    /// Print one JSON line with the differences and the times.
    #[arg(long)]
    pub json: bool,
    /// The engine that runs the optimized graph (the -O0 graph always runs
    /// on the interpreter, the oracle).
    #[command(flatten)]
    pub backend: BackendArg,
}

/// A tolerance: a finite number, zero or more.
fn tolerance(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err("expected a finite number, zero or more (such as 1e-5)".to_string()),
    }
}

#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// The .tx file: a model with a `loss` (and a `train` block, or defaults).
    pub file: PathBuf,
    #[command(flatten)]
    pub run: DataArgs,
    /// The learning rule: backprop, fa, dfa, tp, dtp, sdtp or ao_sdtp, with
    /// its own `train` block, else the first block's settings (without it:
    /// the first block's rule).
    #[arg(long, value_name = "RULE")]
    pub rule: Option<String>,
    /// Write parameters and optimizer state as an .npz (numpy reads it)
    /// after every epoch, atomically.
    #[arg(long, value_name = "PATH.npz")]
    pub checkpoint: Option<PathBuf>,
    /// Continue from a checkpoint: the run goes on exactly as if it had not
    /// stopped.
    #[arg(long, value_name = "PATH.npz")]
    pub resume: Option<PathBuf>,
    /// Write the learning curves (loss, train and test accuracy) as SVG.
    #[arg(long, value_name = "PATH.svg")]
    pub plot: Option<PathBuf>,
    /// Print one JSON line at the end instead of the per-epoch lines.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub backend: BackendArg,
    // The training step and the test-set graph are optimized at this level.
    #[command(flatten)]
    pub opt: LevelArg,
}

/// The data and the budget of a training run (`tx train`, and every rule
/// of `tx rules`).
#[derive(Debug, clap::Args)]
pub struct DataArgs {
    /// The data: `digits` (embedded, the default), `mnist:DIR` (IDX files,
    /// gzip or not; a DIR with only the t10k files is split 8,000/2,000),
    /// `csv:PATH` (label in the last column; a fixed seeded 80/20 split) or
    /// `npz:PATH` (arrays x_train, y_train, x_test, y_test).
    #[arg(long, default_value = "digits", value_name = "DATA")]
    pub data: String,
    /// Passes over the training data (default: the `train` block's, else
    /// 10).
    #[arg(long, value_name = "N")]
    pub epochs: Option<usize>,
    /// Examples per step (default: the `train` block's, else 32).
    #[arg(long, value_name = "N")]
    pub batch: Option<usize>,
    /// Seed of the mini-batch shuffling (default: the `train` block's, else
    /// 0).
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
}

#[derive(Debug, clap::Args)]
pub struct RulesArgs {
    /// The .tx file: a model with a `loss`, and a `train` block per rule
    /// (or one whose settings every rule borrows).
    pub file: PathBuf,
    /// The rules to train, in this order (default: backprop, fa, dfa, tp,
    /// dtp, sdtp, ao_sdtp, skipping those the model cannot train by). A
    /// rule named here that cannot train the model is an error.
    #[arg(long, value_name = "R,...", value_delimiter = ',')]
    pub rules: Option<Vec<String>>,
    /// The data and the budget, the same for every rule.
    #[command(flatten)]
    pub run: DataArgs,
    /// Also write the table as DIR/rules.md and DIR/rules.csv, atomically.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Print one JSON line with every rule's numbers instead of the table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub backend: BackendArg,
    // Every rule's training step and the test-set graph are optimized at
    // this level.
    #[command(flatten)]
    pub opt: LevelArg,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    Text,
    Dot,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Emit {
    /// The syntax tree.
    Ast,
    /// The typed graph and model statements.
    Graph,
}
