//! Pictures: the waveform with the beat grid, bars and phrases (PNG, plotters with a
//! bundled font, since machines running Recut need not have any fonts configured).

use std::path::Path;
use std::sync::Once;

use plotters::prelude::*;

use crate::analysis::Analysis;
use crate::audio::Audio;
use crate::error::{Error, Result};

/// Picture width in pixels.
pub const WIDTH_PX: u32 = 1600;
/// Picture height in pixels.
pub const HEIGHT_PX: u32 = 400;
/// DejaVu Sans (see `assets/fonts/DejaVuSans.LICENSE`).
static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
static REGISTER: Once = Once::new();

fn register_font() {
    REGISTER.call_once(|| {
        // The bundled font is known good; a failure would only leave labels undrawn.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

/// Peak envelope: (min, max) of the mono mix in `columns` equal slices.
pub fn envelope(audio: &Audio, columns: usize) -> Vec<(f32, f32)> {
    let mono = audio.mono();
    let per = (mono.len() / columns.max(1)).max(1);
    mono.chunks(per)
        .map(|c| {
            c.iter()
                .fold((0.0f32, 0.0f32), |(lo, hi), s| (lo.min(*s), hi.max(*s)))
        })
        .collect()
}

/// A chart with plotters' error type, so callers map it once.
type DrawResult<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// A white canvas with the title, a seconds axis over `0..duration_s` and ±1 amplitude:
/// what every waveform picture starts from.
fn waveform_chart<'a, 'b>(
    root: &'a DrawingArea<BitMapBackend<'b>, plotters::coord::Shift>,
    title: &str,
    duration_s: f64,
    x_desc: &str,
) -> DrawResult<
    ChartContext<
        'a,
        BitMapBackend<'b>,
        Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
    >,
> {
    register_font();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 20))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(40)
        .build_cartesian_2d(0.0..duration_s, -1.0f64..1.0f64)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc(x_desc)
        .label_style(("sans-serif", 12))
        .draw()?;
    Ok(chart)
}

/// Draws the waveform with phrases (alternating shaded bands), bar lines and beats.
pub fn plot_analysis(path: &Path, audio: &Audio, analysis: &Analysis, title: &str) -> Result<()> {
    let err = |e: &dyn std::fmt::Display| Error::Plot {
        path: path.to_owned(),
        reason: e.to_string(),
    };
    let root = BitMapBackend::new(path, (WIDTH_PX, HEIGHT_PX)).into_drawing_area();
    let duration = analysis.duration_s.max(1e-3);
    let mut chart = waveform_chart(&root, title, duration, "seconds").map_err(|e| err(&e))?;
    let beat_end = |b: usize| analysis.beats.get(b).copied().unwrap_or(duration);
    for (k, p) in analysis.phrases.iter().enumerate() {
        let colour = if k % 2 == 0 {
            RGBColor(225, 236, 250)
        } else {
            RGBColor(250, 238, 220)
        };
        let (x0, x1) = (beat_end(p.start), beat_end(p.end));
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(x0, -1.0), (x1, 1.0)],
                colour.filled(),
            )))
            .map_err(|e| err(&e))?;
    }
    let env = envelope(audio, WIDTH_PX as usize);
    let dt = duration / env.len().max(1) as f64;
    chart
        .draw_series(env.iter().enumerate().map(|(i, (lo, hi))| {
            let x = i as f64 * dt;
            PathElement::new(
                vec![(x, f64::from(*lo)), (x, f64::from(*hi))],
                RGBColor(60, 60, 60),
            )
        }))
        .map_err(|e| err(&e))?;
    let is_down: std::collections::HashSet<usize> = analysis.downbeats.iter().copied().collect();
    chart
        .draw_series(analysis.beats.iter().enumerate().map(|(i, t)| {
            let (style, h) = if is_down.contains(&i) {
                (RED.stroke_width(2), 1.0)
            } else {
                (BLUE.mix(0.5).stroke_width(1), 0.6)
            };
            PathElement::new(vec![(*t, -h), (*t, h)], style)
        }))
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))
}

/// Colour of kept beats in [`plot_plan`].
const KEEP_RGB: RGBColor = RGBColor(205, 235, 205);
/// Colour of cut beats in [`plot_plan`].
const CUT_RGB: RGBColor = RGBColor(245, 200, 200);
/// Colour of looped beats in [`plot_plan`].
const LOOP_RGB: RGBColor = RGBColor(200, 215, 250);

/// Draws an edit over the source waveform: kept (green), cut (red) and looped (blue)
/// blocks of beats, phrase starts as dark lines, bar lines as light ones.
pub fn plot_plan(
    path: &Path,
    audio: &Audio,
    analysis: &Analysis,
    plan: &crate::edit::Plan,
    title: &str,
) -> Result<()> {
    use crate::edit::Action;
    let err = |e: &dyn std::fmt::Display| Error::Plot {
        path: path.to_owned(),
        reason: e.to_string(),
    };
    let root = BitMapBackend::new(path, (WIDTH_PX, HEIGHT_PX)).into_drawing_area();
    let duration = analysis.duration_s.max(1e-3);
    let mut chart = waveform_chart(
        &root,
        title,
        duration,
        "seconds (source); green kept, red cut, blue looped",
    )
    .map_err(|e| err(&e))?;
    let n = analysis.beats.len();
    let beat_start = |b: usize| {
        if b == 0 {
            0.0
        } else {
            analysis.beats.get(b).copied().unwrap_or(duration)
        }
    };
    // Runs of equal actions as blocks.
    let mut b = 0;
    while b < n.min(plan.actions.len()) {
        let a = plan.actions[b];
        let mut e = b + 1;
        while e < n.min(plan.actions.len()) && plan.actions[e] == a {
            e += 1;
        }
        let colour = match a {
            Action::Keep => KEEP_RGB,
            Action::Cut => CUT_RGB,
            Action::Loop => LOOP_RGB,
        };
        let (x0, x1) = (beat_start(b), if e >= n { duration } else { beat_start(e) });
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(x0, -1.0), (x1, 1.0)],
                colour.filled(),
            )))
            .map_err(|e| err(&e))?;
        b = e;
    }
    let env = envelope(audio, WIDTH_PX as usize);
    let dt = audio.duration_s().max(1e-3) / env.len().max(1) as f64;
    chart
        .draw_series(env.iter().enumerate().map(|(i, (lo, hi))| {
            let x = i as f64 * dt;
            PathElement::new(
                vec![(x, f64::from(*lo)), (x, f64::from(*hi))],
                RGBColor(60, 60, 60),
            )
        }))
        .map_err(|e| err(&e))?;
    chart
        .draw_series(
            analysis
                .downbeats
                .iter()
                .filter_map(|d| analysis.beats.get(*d))
                .map(|t| {
                    PathElement::new(
                        vec![(*t, -1.0), (*t, 1.0)],
                        RGBColor(150, 150, 150).stroke_width(1),
                    )
                }),
        )
        .map_err(|e| err(&e))?;
    chart
        .draw_series(
            analysis
                .phrases
                .iter()
                .filter_map(|p| analysis.beats.get(p.start))
                .map(|t| PathElement::new(vec![(*t, -1.0), (*t, 1.0)], BLACK.stroke_width(2))),
        )
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))
}

/// Width of a [`plot_training_curves`] picture, pixels.
pub const CURVES_WIDTH_PX: u32 = 1200;
/// Height of one panel of a [`plot_training_curves`] picture, pixels.
pub const CURVE_PANEL_HEIGHT_PX: u32 = 220;
/// Panels per row in [`plot_training_curves`].
const CURVE_COLUMNS: usize = 2;

/// Training progress: one line chart per named series (x = its index + 1, e.g. the training
/// step), two panels a row, under `title`. Non-finite values are skipped; a series with no
/// finite value draws an empty panel with its name, so the layout never depends on the data.
pub fn plot_training_curves(
    path: &Path,
    title: &str,
    x_desc: &str,
    series: &[(&str, &[f64])],
) -> Result<()> {
    let err = |e: &dyn std::fmt::Display| Error::Plot {
        path: path.to_owned(),
        reason: e.to_string(),
    };
    register_font();
    let rows = series.len().div_ceil(CURVE_COLUMNS).max(1);
    let height = CURVE_PANEL_HEIGHT_PX * rows as u32 + 40;
    let root = BitMapBackend::new(path, (CURVES_WIDTH_PX, height)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let root = root
        .titled(title, ("sans-serif", 22))
        .map_err(|e| err(&e))?;
    let panels = root.split_evenly((rows, CURVE_COLUMNS));
    for ((name, values), area) in series.iter().zip(panels.iter()) {
        let finite = values.iter().copied().filter(|v| v.is_finite());
        let (lo, hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
        let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) };
        let pad = ((hi - lo) * 0.05).max(1e-6);
        let x_max = values.len().max(2) as f64;
        let mut chart = ChartBuilder::on(area)
            .caption(*name, ("sans-serif", 16))
            .margin(8)
            .x_label_area_size(28)
            .y_label_area_size(56)
            .build_cartesian_2d(1.0..x_max, (lo - pad)..(hi + pad))
            .map_err(|e| err(&e))?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .label_style(("sans-serif", 11))
            .draw()
            .map_err(|e| err(&e))?;
        chart
            .draw_series(LineSeries::new(
                values
                    .iter()
                    .enumerate()
                    .filter(|(_, v)| v.is_finite())
                    .map(|(i, v)| (i as f64 + 1.0, *v)),
                BLUE.stroke_width(2),
            ))
            .map_err(|e| err(&e))?;
    }
    root.present().map_err(|e| err(&e))
}
