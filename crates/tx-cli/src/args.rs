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
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The .tx file.
    pub file: PathBuf,
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
    /// Write each output as DIR/<name>.npy.
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,
    /// Print one JSON line with every output.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// The .tx file: a model with a `loss` (and a `train` block, or defaults).
    pub file: PathBuf,
    /// The data: `digits` (embedded, the default), `mnist:DIR` (IDX files,
    /// gzip or not; a DIR with only the t10k files is split 8,000/2,000),
    /// `csv:PATH` (label in the last column; a fixed seeded 80/20 split) or
    /// `npz:PATH` (arrays x_train, y_train, x_test, y_test).
    #[arg(long, default_value = "digits", value_name = "DATA")]
    pub data: String,
    /// Passes over the training data (overrides the train block).
    #[arg(long, value_name = "N")]
    pub epochs: Option<usize>,
    /// Examples per step (overrides the train block).
    #[arg(long, value_name = "N")]
    pub batch: Option<usize>,
    /// Seed of the mini-batch shuffling (overrides the train block).
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// The learning rule (overrides the train block): backprop.
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
