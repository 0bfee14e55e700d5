//! `docs/benchmarks.png`: one row per model, one panel per metric (throughput with the
//! physical limit, single-text p50, peak RSS, load time), one bar per engine with its value.
//!
//! Drawn with plotters' bitmap backend; text uses the Hack font from `epaint_default_fonts`,
//! registered at run time, so no system font is needed. Knows only the report's figures.

use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{FontStyle, TextStyle};

use super::engines::Engine;
use super::report::{Metric, Section};

const PANEL_WIDTH: u32 = 460;
const ROW_HEIGHT: u32 = 300;
const FONT: &str = "sans-serif";

fn color(engine: Engine) -> RGBColor {
    match engine {
        Engine::EmbedNative => RGBColor(31, 119, 180),
        Engine::EmbedOnnx => RGBColor(23, 190, 207),
        Engine::EmbedOnnxSessions => RGBColor(140, 86, 75),
        Engine::EmbedOnnxFp32 => RGBColor(127, 127, 127),
        Engine::EmbedCli => RGBColor(128, 177, 211),
        Engine::Fastembed => RGBColor(255, 127, 14),
        Engine::OrtPython => RGBColor(44, 160, 44),
        Engine::SentenceTransformers => RGBColor(148, 103, 189),
    }
}

/// A tick label with as many decimals as the magnitude needs.
fn tick(v: f64) -> String {
    match v.abs() {
        a if a >= 10.0 || a == 0.0 => format!("{v:.0}"),
        a if a >= 1.0 => format!("{v:.1}"),
        _ => format!("{v:.2}"),
    }
}

fn err(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

/// Draws the chart of `reports` into `path` (PNG).
pub fn draw(path: &Path, sections: &[Section], gemm_peak: Option<f64>, threads: usize) -> anyhow::Result<()> {
    plotters::style::register_font(FONT, FontStyle::Normal, epaint_default_fonts::HACK_REGULAR)
        .map_err(|_| anyhow::anyhow!("the bundled font is not a valid TrueType font"))?;
    let rows = sections.len().max(1) as u32;
    let root = BitMapBackend::new(path, (4 * PANEL_WIDTH, rows * ROW_HEIGHT + 30)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let (header, body) = root.split_vertically(30);
    header
        .draw(&Text::new(
            format!(
                "embed and its peers, {threads} threads each (medians over interleaved rounds; red line: physical limit)"
            ),
            (10, 8),
            (FONT, 16).into_font(),
        ))
        .map_err(err)?;
    let panels = body.split_evenly((rows as usize, 4));
    for (row, section) in sections.iter().enumerate() {
        let metrics: [(Metric, &str, usize); 4] = [
            (Metric::TextsPerS, "texts/s (higher is better)", 0),
            (Metric::P50, "single-text p50 ms (lower is better)", 2),
            (Metric::Rss, "peak RSS MiB (lower is better)", 0),
            (Metric::Load, "load s (lower is better)", 2),
        ];
        for (col, (metric, label, digits)) in metrics.into_iter().enumerate() {
            let line = match metric {
                Metric::TextsPerS => section.physical_limit(gemm_peak),
                _ => None,
            };
            draw_panel(
                &panels[row * 4 + col],
                &format!("{} - {label}", section.title()),
                section,
                metric,
                digits,
                line,
            )?;
        }
    }
    root.present().map_err(err)?;
    Ok(())
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    caption: &str,
    section: &Section,
    metric: Metric,
    digits: usize,
    line: Option<f64>,
) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    let bars: Vec<(Engine, Option<f64>)> = section.runs.iter().map(|(e, _)| (*e, section.median(*e, metric))).collect();
    let n = bars.len() as u32;
    let top = bars.iter().filter_map(|(_, v)| *v).chain(line).fold(0.0f64, f64::max);
    let x_max = if top > 0.0 { top * 1.35 } else { 1.0 };
    let mut chart = ChartBuilder::on(area)
        .caption(caption, (FONT, 14))
        .margin(8)
        .x_label_area_size(22)
        .y_label_area_size(150)
        // Discrete ranges include their end: 0..=n-1 is n bars.
        .build_cartesian_2d(0f64..x_max, (0u32..n.saturating_sub(1)).into_segmented())
        .map_err(err)?;
    // The first engine (embed-native) at the top.
    let names: Vec<&str> = bars.iter().rev().map(|(e, _)| e.name()).collect();
    chart
        .configure_mesh()
        .disable_y_mesh()
        .x_labels(5)
        .x_label_formatter(&|v| tick(*v))
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => names.get(*i as usize).map_or(String::new(), |s| s.to_string()),
            _ => String::new(),
        })
        .label_style((FONT, 12).into_font())
        .draw()
        .map_err(err)?;
    for (i, (engine, value)) in bars.iter().rev().enumerate() {
        let i = i as u32;
        let text_style = TextStyle::from((FONT, 12).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
        match value {
            Some(v) => {
                chart
                    .draw_series(Histogram::horizontal(&chart).style(color(*engine).filled()).margin(6).data([(i, *v)]))
                    .map_err(err)?;
                chart
                    .draw_series(std::iter::once(Text::new(
                        format!(" {v:.digits$}"),
                        (*v, SegmentValue::CenterOf(i)),
                        text_style,
                    )))
                    .map_err(err)?;
            }
            None => {
                chart
                    .draw_series(std::iter::once(Text::new(" n/a", (0.0, SegmentValue::CenterOf(i)), text_style)))
                    .map_err(err)?;
            }
        }
    }
    if let Some(limit) = line {
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(limit, SegmentValue::Exact(0)), (limit, SegmentValue::Last)],
                RED.stroke_width(2),
            )))
            .map_err(err)?;
        chart
            .draw_series(std::iter::once(Text::new(
                format!(" limit {}", tick(limit)),
                (limit, SegmentValue::Exact(0)),
                TextStyle::from((FONT, 12).into_font()).color(&RED).pos(Pos::new(HPos::Left, VPos::Bottom)),
            )))
            .map_err(err)?;
    }
    Ok(())
}
