//! Learning curves as a small, dependency-free SVG: the training loss on
//! top, the train and test accuracies below, one point per epoch.

use std::fmt::Write;

use crate::train::Epoch;

const WIDTH: f64 = 640.0;
const PANEL: f64 = 220.0;
const LEFT: f64 = 60.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 30.0;
const GAP: f64 = 60.0;

/// The SVG document for the epochs so far.
pub fn learning_curves(history: &[Epoch]) -> String {
    let mut svg = String::new();
    let height = TOP + 2.0 * PANEL + GAP + 40.0;
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let losses: Vec<f64> = history.iter().map(|e| e.train_loss).collect();
    let top = losses.iter().copied().filter(|v| v.is_finite()).fold(0.0f64, f64::max).max(1e-12);
    panel(&mut svg, TOP, "training loss", (0.0, top), history.len(), &[("train loss", "#1f77b4", losses)]);
    let train: Vec<f64> = history.iter().map(|e| e.train_accuracy.unwrap_or(f64::NAN)).collect();
    let test: Vec<f64> = history.iter().map(|e| e.test_accuracy.unwrap_or(f64::NAN)).collect();
    panel(
        &mut svg,
        TOP + PANEL + GAP,
        "accuracy",
        (0.0, 1.0),
        history.len(),
        &[("train accuracy", "#1f77b4", train), ("test accuracy", "#d62728", test)],
    );
    svg.push_str("</svg>\n");
    svg
}

/// One chart: axes with ticks, a polyline per series, a legend.
fn panel(
    svg: &mut String,
    y0: f64,
    title: &str,
    (low, high): (f64, f64),
    epochs: usize,
    series: &[(&str, &str, Vec<f64>)],
) {
    let plot_width = WIDTH - LEFT - RIGHT;
    let x = |epoch: usize| LEFT + plot_width * if epochs <= 1 { 0.5 } else { (epoch - 1) as f64 / (epochs - 1) as f64 };
    let y = |v: f64| y0 + PANEL * (1.0 - ((v - low) / (high - low)).clamp(0.0, 1.0));
    let _ = writeln!(svg, r#"<text x="{LEFT}" y="{}" font-weight="bold">{title}</text>"#, y0 - 10.0);
    let _ =
        writeln!(svg, r#"<path d="M{LEFT},{y0} V{} H{}" fill="none" stroke="black"/>"#, y0 + PANEL, LEFT + plot_width);
    for k in 0..=4 {
        let v = low + (high - low) * k as f64 / 4.0;
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="end">{v:.3}</text><path d="M{},{} h-4" stroke="black"/>"#,
            LEFT - 6.0,
            y(v) + 4.0,
            LEFT,
            y(v)
        );
    }
    let ticks = epochs.clamp(1, 10);
    for k in 0..ticks {
        let epoch = if ticks == 1 { 1 } else { 1 + k * (epochs - 1) / (ticks - 1) };
        let _ =
            writeln!(svg, r#"<text x="{}" y="{}" text-anchor="middle">{epoch}</text>"#, x(epoch), y0 + PANEL + 16.0);
    }
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="middle">epoch</text>"#,
        LEFT + plot_width / 2.0,
        y0 + PANEL + 32.0
    );
    for (i, (name, colour, values)) in series.iter().enumerate() {
        let points: Vec<String> = values
            .iter()
            .enumerate()
            .filter(|(_, v)| v.is_finite())
            .map(|(e, v)| format!("{:.1},{:.1}", x(e + 1), y(*v)))
            .collect();
        if points.is_empty() {
            continue;
        }
        let _ = writeln!(
            svg,
            r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="2"/>"#,
            points.join(" ")
        );
        // Mid-height: the loss has fallen and the accuracy risen by then.
        let legend_y = y0 + PANEL / 2.0 + 16.0 * i as f64;
        let _ = writeln!(
            svg,
            r#"<path d="M{},{} h20" stroke="{colour}" stroke-width="2"/><text x="{}" y="{}">{name}</text>"#,
            WIDTH - RIGHT - 150.0,
            legend_y - 4.0,
            WIDTH - RIGHT - 124.0,
            legend_y
        );
    }
}
