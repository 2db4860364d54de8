//! `tx rules`: one model trained by every learning rule in turn, on the
//! same data and budget (epochs, batch size, seed), each rule with the
//! settings of its own `train` block, and their errors as one table:
//! markdown on stdout (or one JSON line), and, with `--out DIR`,
//! `DIR/rules.md` and `DIR/rules.csv`. The training is `tx train`'s own
//! (`train.rs`); this file chooses the rules, reports their progress and
//! writes the table.

use std::path::Path;

use tx_ir::Model;
use tx_learn::{LearnError, Optimizer, PhaseSchedule, Schedule, StepGraph, TrainConfig};

use crate::Failure;
use crate::args::RulesArgs;
use crate::format::json_string;
use crate::train::{self, Divergence, Ended, Lines, Overrides, Report, RunOptions, Trained};

pub fn rules(args: &RulesArgs) -> Result<(), Failure> {
    // Usage is checked before any work, so that a typo costs nothing.
    let chosen = chosen_rules(args.rules.as_deref())?;
    let source = crate::commands::read_source(&args.file)?;
    let model = crate::commands::compile(&source)?;
    let file = source.name.as_str();
    if model.loss.is_none() {
        return Err(Failure::user(format!("error: `{file}` has no `loss` to train")));
    }
    // The budget: the command line's, else the first block's, else the
    // defaults of `tx train`; the same for every rule.
    let first = train::config_for(
        &model,
        None,
        Overrides { epochs: args.run.epochs, batch: args.run.batch, seed: args.run.seed },
    )?;
    let budget = Budget { epochs: first.epochs, batch: first.batch, seed: first.seed };
    let split = train::load(&args.run.data)?;
    let data = train::bind(&model, &split, file)?;

    // Every step is built before any rule trains, so that a rule named on
    // the command line that cannot train the model fails at once.
    let mut plans = Vec::with_capacity(chosen.names.len());
    for name in &chosen.names {
        let config = train::config_for(&model, Some(name), budget.overrides())?;
        let rule = train::rule_of(&config)?;
        let settings = settings_text(&model, &config);
        let step = match train::step_graph(&model, rule.as_ref(), &config, split.train.len()) {
            Ok(step) => Ok(step),
            Err(LearnError::Model(reason)) if !chosen.explicit => Err(reason),
            Err(e) => return Err(Failure::user(format!("error: {e}"))),
        };
        plans.push(Plan { rule: name.clone(), config, settings, step });
    }
    if plans.iter().all(|plan| plan.step.is_err()) {
        let reasons: String = plans.iter().filter_map(|p| p.step.as_ref().err()).map(|r| format!("  {r}\n")).collect();
        return Err(Failure::user(format!("error: no learning rule can train `{file}`:\n{reasons}")));
    }

    let options = |rule: &str| RunOptions {
        level: args.opt.level.level(),
        backend: args.backend.backend,
        checkpoint: None,
        resume: None,
        plot: None,
        report: Report { bar: false, lines: Lines::Stderr(format!("{rule}: ")) },
    };
    let mut rows = Vec::with_capacity(plans.len());
    for plan in plans {
        let Plan { rule, config, settings, step } = plan;
        let outcome = match step {
            Err(reason) => {
                crate::write_stderr(&format!("{rule}: skipped: {reason}\n"));
                Outcome::Skipped(reason)
            }
            Ok(step) => {
                crate::write_stderr(&format!("{rule}: {}; {settings}\n", budget.text()));
                match train::drive(&model, &source, &config, &step, &data, &options(&rule))? {
                    Ended::Trained(trained) => {
                        crate::write_stderr(&format!(
                            "{rule}: done in {:.2} s ({:.0} steps/s)\n",
                            trained.seconds,
                            trained.steps_per_second()
                        ));
                        Outcome::Trained(trained)
                    }
                    Ended::Diverged(divergence) => {
                        crate::write_stderr(&format!("{rule}: diverged\n{}", divergence.message));
                        Outcome::Diverged(divergence)
                    }
                }
            }
        };
        rows.push(Row { rule, settings, outcome });
    }

    let caption = format!(
        "`{file}` on {} ({} training, {} test examples): {}, seed {}.",
        args.run.data,
        split.train.len(),
        split.test.len(),
        budget.text(),
        budget.seed
    );
    let markdown = format!("{caption}\n\n{}", markdown(&rows));
    if let Some(dir) = &args.out {
        write_table(dir, "rules.md", &markdown)?;
        write_table(dir, "rules.csv", &csv(&rows))?;
    }
    if args.json {
        crate::commands::write_line(&json(&args.run.data, &budget, &rows));
    } else {
        crate::commands::write_stdout(&markdown);
    }
    Ok(())
}

/// The rules to train and whether the command line named them.
struct Chosen {
    names: Vec<String>,
    explicit: bool,
}

fn chosen_rules(asked: Option<&[String]>) -> Result<Chosen, Failure> {
    let known = tx_learn::spec::RULES;
    let Some(asked) = asked else {
        return Ok(Chosen { names: known.iter().map(ToString::to_string).collect(), explicit: false });
    };
    let mut names: Vec<String> = Vec::with_capacity(asked.len());
    for name in asked {
        let name = name.trim();
        if !known.contains(&name) {
            return Err(Failure::usage(format!(
                "error: --rules: unknown learning rule `{name}`; expected some of {}",
                known.join(", ")
            )));
        }
        if names.iter().any(|n| n == name) {
            return Err(Failure::usage(format!("error: --rules: `{name}` is named twice")));
        }
        names.push(name.to_string());
    }
    Ok(Chosen { names, explicit: true })
}

/// What every rule trains for.
struct Budget {
    epochs: usize,
    batch: usize,
    seed: u64,
}

impl Budget {
    /// `5 epochs of batches of 32`.
    fn text(&self) -> String {
        let plural = if self.epochs == 1 { "" } else { "s" };
        format!("{} epoch{plural} of batches of {}", self.epochs, self.batch)
    }

    fn overrides(&self) -> Overrides {
        Overrides { epochs: Some(self.epochs), batch: Some(self.batch), seed: Some(self.seed) }
    }
}

/// A rule ready to train, or the reason it cannot.
struct Plan {
    rule: String,
    config: TrainConfig,
    settings: String,
    step: Result<StepGraph, String>,
}

/// One line of the table.
struct Row {
    rule: String,
    /// What the rule trained with, in short.
    settings: String,
    outcome: Outcome,
}

enum Outcome {
    Trained(Trained),
    /// The model lacks something the rule needs: the reason.
    Skipped(String),
    Diverged(Divergence),
}

impl Row {
    fn status(&self) -> &'static str {
        match self.outcome {
            Outcome::Trained(_) => "trained",
            Outcome::Skipped(_) => "skipped",
            Outcome::Diverged(_) => "diverged",
        }
    }

    /// What the table says instead of numbers, for a rule that did not train.
    fn reason(&self) -> Option<String> {
        match &self.outcome {
            Outcome::Trained(_) => None,
            Outcome::Skipped(reason) => Some(reason.clone()),
            Outcome::Diverged(d) => Some(format!("the loss is {} at epoch {}, step {}", d.loss, d.epoch, d.step)),
        }
    }

    fn trained(&self) -> Option<&Trained> {
        match &self.outcome {
            Outcome::Trained(trained) => Some(trained),
            Outcome::Skipped(_) | Outcome::Diverged(_) => None,
        }
    }
}

/// The error in percent of an accuracy.
fn error_percent(accuracy: Option<f64>) -> Option<f64> {
    accuracy.map(|a| (1.0 - a) * 100.0)
}

const HEADER: [&str; 7] =
    ["rule", "train error %", "test error %", "final train loss", "seconds", "steps/s", "settings"];

/// The table in markdown, its columns padded so that it reads as text too.
fn markdown(rows: &[Row]) -> String {
    let fixed = |v: Option<f64>, places: usize| v.map_or("—".to_string(), |v| format!("{v:.places$}"));
    let cells: Vec<[String; 7]> = rows
        .iter()
        .map(|row| {
            let trained = row.trained();
            let last = trained.map(|t| &t.last);
            let settings = match &row.outcome {
                Outcome::Trained(_) => row.settings.clone(),
                Outcome::Skipped(reason) => format!("skipped: {reason}"),
                Outcome::Diverged(_) => format!("diverged: {}; {}", row.reason().unwrap_or_default(), row.settings),
            };
            [
                row.rule.clone(),
                fixed(error_percent(last.and_then(|l| l.train_accuracy)), 2),
                fixed(error_percent(last.and_then(|l| l.test_accuracy)), 2),
                fixed(last.map(|l| l.train_loss), 4),
                fixed(trained.map(|t| t.seconds), 2),
                fixed(trained.map(Trained::steps_per_second), 0),
                settings.replace('|', "\\|"),
            ]
        })
        .collect();
    let mut widths = HEADER.map(|h| h.chars().count());
    for row in &cells {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    // Numbers right-aligned, names and settings left-aligned.
    let numeric = |column: usize| (1..6).contains(&column);
    let line = |cells: &[String]| {
        let padded: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, cell)| {
                let pad = " ".repeat(widths[i] - cell.chars().count());
                if numeric(i) { format!("{pad}{cell}") } else { format!("{cell}{pad}") }
            })
            .collect();
        format!("| {} |\n", padded.join(" | "))
    };
    let mut out = line(&HEADER.map(String::from));
    let rule: Vec<String> = (0..HEADER.len())
        .map(|i| if numeric(i) { format!("{}:", "-".repeat(widths[i] + 1)) } else { "-".repeat(widths[i] + 2) })
        .collect();
    out.push_str(&format!("|{}|\n", rule.join("|")));
    for row in &cells {
        out.push_str(&line(row));
    }
    out
}

/// The table as CSV, numbers in full (the shortest text that reads back),
/// empty where a rule has none.
fn csv(rows: &[Row]) -> String {
    let mut out = String::from(
        "rule,status,train_error_percent,test_error_percent,final_train_loss,seconds,steps_per_second,settings,reason\n",
    );
    let number = |v: Option<f64>| v.filter(|x| x.is_finite()).map_or(String::new(), |x| format!("{x}"));
    for row in rows {
        let trained = row.trained();
        let last = trained.map(|t| &t.last);
        let fields = [
            row.rule.clone(),
            row.status().to_string(),
            number(error_percent(last.and_then(|l| l.train_accuracy))),
            number(error_percent(last.and_then(|l| l.test_accuracy))),
            number(last.map(|l| l.train_loss)),
            number(trained.map(|t| t.seconds)),
            number(trained.map(Trained::steps_per_second)),
            row.settings.clone(),
            row.reason().unwrap_or_default(),
        ];
        let quoted: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        out.push_str(&quoted.join(","));
        out.push('\n');
    }
    out
}

/// A CSV field, quoted (RFC 4180) when it holds a comma, a quote or a line
/// break.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text.to_string() }
}

/// `{"data": ..., "epochs": N, "batch": N, "seed": N, "rules": [{"rule": ..., "status": ..., ...}]}`:
/// a trained rule has the numbers of `tx train --json` (and its errors in
/// percent), another its reason.
fn json(data: &str, budget: &Budget, rows: &[Row]) -> String {
    let number = |v: Option<f64>| v.filter(|x| x.is_finite()).map_or("null".to_string(), |x| format!("{x}"));
    let entries: Vec<String> = rows
        .iter()
        .map(|row| {
            let mut members = vec![
                format!("\"rule\": {}", json_string(&row.rule)),
                format!("\"status\": {}", json_string(row.status())),
            ];
            match &row.outcome {
                Outcome::Trained(trained) => {
                    let last = &trained.last;
                    members.extend([
                        format!("\"epochs\": {}", last.epoch),
                        format!("\"train_loss\": {}", number(Some(last.train_loss))),
                        format!("\"train_accuracy\": {}", number(last.train_accuracy)),
                        format!("\"test_accuracy\": {}", number(last.test_accuracy)),
                        format!("\"train_error_percent\": {}", number(error_percent(last.train_accuracy))),
                        format!("\"test_error_percent\": {}", number(error_percent(last.test_accuracy))),
                        format!("\"seconds\": {}", number(Some(trained.seconds))),
                        format!("\"steps_per_second\": {}", number(Some(trained.steps_per_second()))),
                        format!("\"settings\": {}", json_string(&row.settings)),
                    ]);
                }
                Outcome::Diverged(divergence) => {
                    members.extend([
                        format!("\"epoch\": {}", divergence.epoch),
                        format!("\"step\": {}", divergence.step),
                        format!("\"reason\": {}", json_string(&row.reason().unwrap_or_default())),
                        format!("\"settings\": {}", json_string(&row.settings)),
                    ]);
                }
                Outcome::Skipped(reason) => members.push(format!("\"reason\": {}", json_string(reason))),
            }
            format!("{{{}}}", members.join(", "))
        })
        .collect();
    format!(
        "{{\"data\": {}, \"epochs\": {}, \"batch\": {}, \"seed\": {}, \"rules\": [{}]}}",
        json_string(data),
        budget.epochs,
        budget.batch,
        budget.seed,
        entries.join(", ")
    )
}

fn write_table(dir: &Path, name: &str, text: &str) -> Result<(), Failure> {
    std::fs::create_dir_all(dir).map_err(|e| {
        Failure::user(format!("error: cannot create `{}`: {}", dir.display(), crate::commands::io_reason(&e)))
    })?;
    let path = dir.join(name);
    tx_data::npy::write_atomically(&path, text.as_bytes()).map_err(|e| {
        Failure::user(format!("error: cannot write `{}`: {}", path.display(), crate::commands::io_reason(&e)))
    })?;
    crate::write_stderr(&format!("wrote {}\n", path.display()));
    Ok(())
}

/// The settings a rule trained with, in short: its optimizers and the
/// settings it reads that differ from the defaults, and, when they are not
/// its own block's, where they came from.
fn settings_text(model: &Model, config: &TrainConfig) -> String {
    let rule = config.rule.as_str();
    let target = &config.target;
    let mut parts: Vec<String> = Vec::new();
    match rule {
        "backprop" | "fa" | "dfa" => {
            parts.push(optimizer_text(&config.optimizer));
            if rule != "backprop" {
                if config.feedback.scale != 1.0 {
                    parts.push(format!("feedback_scale {}", config.feedback.scale));
                }
                if config.feedback.seed != 0 {
                    parts.push(format!("feedback_seed {}", config.feedback.seed));
                }
            }
        }
        _ => {
            parts.push(format!("forward {}", optimizer_text(&config.forward)));
            parts.push(format!("inverse {}", optimizer_text(&config.inverse)));
            parts.push(
                match target.schedule {
                    PhaseSchedule::Alternating => "alternating",
                    PhaseSchedule::Parallel => "parallel",
                }
                .to_string(),
            );
            if matches!(rule, "tp" | "dtp") {
                parts.push(format!("top_step {}", target.top_step));
            }
            let sigmas: Vec<String> = target.noise.iter().map(ToString::to_string).collect();
            let mut noise = format!("noise {}", sigmas.join("/"));
            if let Some(decay) = target.noise_decay {
                noise.push_str(&format!(" decaying over {decay} epochs"));
            }
            parts.push(noise);
            if rule == "ao_sdtp" {
                parts.push(format!("aux_units {}", target.aux_units));
            }
            if target.reference_quirks && matches!(rule, "tp" | "dtp") {
                parts.push("reference_quirks".to_string());
            }
        }
    }
    match config.lr_schedule {
        Schedule::Constant => {}
        Schedule::Step { every, gamma } => parts.push(format!("lr step(every={every}, gamma={gamma})")),
        Schedule::Cosine { min_lr } => parts.push(format!("lr cosine(min_lr={min_lr})")),
    }
    if config.weight_decay > 0.0 {
        parts.push(format!("weight_decay {}", config.weight_decay));
    }
    match model.train_block(Some(rule)) {
        Some(block) if block.rule == rule => {}
        Some(block) => parts.push(format!("from `train {}`", block.rule)),
        None => parts.push("defaults".to_string()),
    }
    parts.join("; ")
}

/// An optimizer with its learning rate and the settings that differ from
/// the defaults: `rmsprop(lr=0.01, momentum=0.9, centered)`.
fn optimizer_text(optimizer: &Optimizer) -> String {
    let mut args = vec![format!("lr={}", optimizer.lr())];
    let mut differs = |name: &str, value: f64, default: f64| {
        if value != default {
            args.push(format!("{name}={value}"));
        }
    };
    let name = match *optimizer {
        Optimizer::Sgd { .. } => "sgd",
        Optimizer::Momentum { momentum, .. } => {
            differs("momentum", momentum, 0.9);
            "momentum"
        }
        Optimizer::Adam { beta1, beta2, eps, .. } => {
            differs("beta1", beta1, 0.9);
            differs("beta2", beta2, 0.999);
            differs("eps", eps, 1e-8);
            "adam"
        }
        Optimizer::RmsProp { decay, eps, momentum, .. } => {
            differs("decay", decay, 0.9);
            differs("eps", eps, 1e-8);
            differs("momentum", momentum, 0.0);
            "rmsprop"
        }
    };
    match optimizer {
        Optimizer::Momentum { nesterov: true, .. } => args.push("nesterov".to_string()),
        Optimizer::RmsProp { centered: true, .. } => args.push("centered".to_string()),
        _ => {}
    }
    format!("{name}({})", args.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::Epoch;

    fn trained(rule: &str, accuracy: f64) -> Row {
        let last = Epoch { epoch: 2, train_loss: 0.125, train_accuracy: Some(1.0), test_accuracy: Some(accuracy) };
        let outcome = Outcome::Trained(Trained { last, seconds: 2.0, steps: 90 });
        Row { rule: rule.to_string(), settings: "adam(lr=0.01)".to_string(), outcome }
    }

    #[test]
    fn the_table_has_a_row_per_rule_with_its_errors_in_percent() {
        let rows = [
            trained("backprop", 0.975),
            Row { rule: "tp".into(), settings: String::new(), outcome: Outcome::Skipped("`tp` needs inverses".into()) },
        ];
        let table = markdown(&rows);
        let cells: Vec<Vec<&str>> =
            table.lines().map(|l| l.split('|').map(str::trim).filter(|c| !c.is_empty()).collect()).collect();
        assert_eq!(cells.len(), 4, "{table}");
        assert_eq!(cells[0], HEADER);
        assert_eq!(cells[2], ["backprop", "0.00", "2.50", "0.1250", "2.00", "45", "adam(lr=0.01)"]);
        assert_eq!(cells[3], ["tp", "—", "—", "—", "—", "—", "skipped: `tp` needs inverses"]);
        let separator = table.lines().nth(1).unwrap();
        assert!(separator.starts_with("|----------|--------------:|"), "{table}");
        let widths: std::collections::BTreeSet<usize> = table.lines().map(|l| l.chars().count()).collect();
        assert_eq!(widths.len(), 1, "columns padded to one width:\n{table}");

        let csv = csv(&rows);
        let lines: Vec<&str> = csv.lines().collect();
        let test_error = (1.0 - 0.975) * 100.0;
        assert_eq!(lines[1], format!("backprop,trained,0,{test_error},0.125,2,45,adam(lr=0.01),"));
        assert_eq!(lines[2], "tp,skipped,,,,,,,`tp` needs inverses");
    }

    #[test]
    fn csv_fields_with_commas_or_quotes_are_quoted() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("rmsprop(lr=0.1, centered)"), "\"rmsprop(lr=0.1, centered)\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }

    #[test]
    fn optimizers_show_the_settings_that_differ_from_the_defaults() {
        assert_eq!(
            optimizer_text(&Optimizer::Adam { lr: 4.02e-4, beta1: 0.9, beta2: 0.999, eps: 1e-8 }),
            "adam(lr=0.000402)"
        );
        let rmsprop = Optimizer::RmsProp { lr: 0.000804, decay: 0.95, eps: 0.001, momentum: 0.9, centered: true };
        assert_eq!(optimizer_text(&rmsprop), "rmsprop(lr=0.000804, decay=0.95, eps=0.001, momentum=0.9, centered)");
        let nesterov = Optimizer::Momentum { lr: 0.1, momentum: 0.5, nesterov: true };
        assert_eq!(optimizer_text(&nesterov), "momentum(lr=0.1, momentum=0.5, nesterov)");
    }
}
