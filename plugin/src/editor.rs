//! The egui editor: song (file or capture), waveform with the beat grid, grid corrections,
//! edit settings, the candidate list, audition transport, export and the rating panel.
//! Widgets carry labels so screen readers (and egui_kittest's accessibility checks) find
//! them. Nothing here blocks: slow work is a [`Command`] to the worker, and errors arrive
//! in the status line.

use crate::params::{Audition, EditorPrefs, RecutParams, Session};
use crate::shared::Shared;
use crate::worker::{CandidateView, Command, RatingInput, SongView};
use egui::{Color32, Rect, Sense, Stroke, pos2, vec2};
use nice_plug::context::gui::GuiContext;
use nice_plug::editor::dpi::LogicalSize;
use nice_plug::prelude::*;
use nice_plug_egui::baseview::WindowSize;
use nice_plug_egui::widgets::ParamSlider;
use nice_plug_egui::{
    EguiEditor, EguiEditorState, EguiNiceSettings, Frame, NiceEguiApp, RepaintNotifier,
};
use recut_engine::edit::Action;
use recut_engine::feedback::{Preference, Side, TieKind};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

pub type RecutEditor = EguiEditor<RecutApp>;

/// Builds the editor at the size and zoom persisted in the params.
pub fn create(params: Arc<RecutParams>, shared: Arc<Shared>) -> Option<RecutEditor> {
    let prefs = *params.editor.read().unwrap_or_else(|e| e.into_inner());
    let size = LogicalSize::new(prefs.width as f64, prefs.height as f64);
    let state = EguiEditorState::from_size(size, prefs.zoom.max(0.25));
    let settings = EguiNiceSettings::new().with_tile("Recut");
    nice_plug_egui::create_egui_editor(
        state,
        RepaintNotifier::new(),
        settings,
        RecutApp::new(params, shared),
    )
}

/// The editor's app state; lives on the GUI thread.
pub struct RecutApp {
    params: Arc<RecutParams>,
    shared: Arc<Shared>,
    gui: Option<GuiContext>,
    path_text: String,
    /// Which edit of the pair is shown on the left.
    left: Side,
    strength: u8,
    notes: String,
    rng: u64,
}

impl RecutApp {
    pub fn new(params: Arc<RecutParams>, shared: Arc<Shared>) -> Self {
        let path_text = params
            .session
            .read()
            .ok()
            .and_then(|s| s.song_path.as_ref().map(|p| p.display().to_string()))
            .unwrap_or_default();
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64);
        Self {
            params,
            shared,
            gui: None,
            path_text,
            left: Side::A,
            strength: 2,
            notes: String::new(),
            rng: seed | 1,
        }
    }

    fn next_random(&mut self) -> u64 {
        // xorshift64
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    fn update_prefs(&self, change: impl FnOnce(&mut EditorPrefs)) {
        change(
            &mut self
                .params
                .editor
                .write()
                .unwrap_or_else(|e| e.into_inner()),
        );
    }

    fn session(&self) -> Session {
        self.params
            .session
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn update_session(&self, change: impl FnOnce(&mut Session)) {
        change(
            &mut self
                .params
                .session
                .write()
                .unwrap_or_else(|e| e.into_inner()),
        );
    }

    fn set_picks(&self, a: usize, b: usize) {
        self.shared.pick_a.store(a, Relaxed);
        self.shared.pick_b.store(b, Relaxed);
        self.update_session(|s| {
            s.pick_a = a;
            s.pick_b = b;
        });
    }

    fn set_audition(&self, setter: Option<&ParamSetter>, a: Audition) {
        if let Some(setter) = setter {
            setter.begin_set_parameter(&self.params.audition);
            setter.set_parameter(&self.params.audition, a);
            setter.end_set_parameter(&self.params.audition);
        }
    }

    /// Draws the whole editor; `setter` is None outside a host (tests), where the
    /// parameter widgets are omitted.
    pub fn draw(&mut self, ui: &mut egui::Ui, setter: Option<&ParamSetter>) {
        let view = self.shared.view();
        egui::ScrollArea::vertical().show(ui, |ui| {
            ui.heading("Recut");
            self.song_section(ui, setter);
            if let Some(song) = &view.song {
                ui.separator();
                self.waveform(ui, song);
                self.grid_section(ui, song);
                ui.separator();
                self.settings_section(ui, setter);
                ui.separator();
                self.candidates_section(ui, song);
                ui.separator();
                self.transport_section(ui, setter, song);
                ui.separator();
                self.rating_section(ui, setter, song, view.ratings);
            }
            ui.separator();
            ui.horizontal(|ui| {
                let label = ui.label("Status:");
                ui.label(self.shared.status.line()).labelled_by(label.id);
            });
        });
    }

    fn song_section(&mut self, ui: &mut egui::Ui, setter: Option<&ParamSetter>) {
        ui.horizontal(|ui| {
            let label = ui.label("Song file");
            ui.add(egui::TextEdit::singleline(&mut self.path_text).desired_width(420.0))
                .labelled_by(label.id);
            if ui.button("Load").clicked() {
                let p = PathBuf::from(self.path_text.trim());
                self.shared
                    .status
                    .set_message(format!("loading {}…", p.display()));
                self.shared.send(Command::LoadFile(p));
            }
        });
        // Drag and drop: files egui reports hovering over or dropped on the window. Inside
        // a DAW on Linux none arrive today: baseview 0.4 receives XDND drops and sends
        // `MouseEvent::DragDropped`, but egui-baseview 0.9 (under nice-plug-egui 0.6) does
        // not forward drag events to egui's `RawInput`. The path field always works; this
        // starts working as soon as the integration forwards drops.
        let (hovering, dropped) = ui.ctx().input(|i| {
            let hovering = i.raw.hovered_files.first().map(|f| {
                f.path
                    .as_ref()
                    .map_or_else(|| "the file".to_owned(), |p| p.display().to_string())
            });
            let dropped = i
                .raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_path_buf())
                .find(|p| !p.as_os_str().is_empty());
            (hovering, dropped)
        });
        if let Some(name) = hovering {
            ui.label(format!("Drop to load {name}"));
        }
        if let Some(p) = dropped {
            self.path_text = p.display().to_string();
            self.shared
                .status
                .set_message(format!("loading {}…", p.display()));
            self.shared.send(Command::LoadFile(p));
        }
        ui.horizontal(|ui| {
            if let Some(setter) = setter {
                let mut on = self.params.capture.value();
                if ui
                    .checkbox(&mut on, "Capture while the transport plays")
                    .changed()
                {
                    setter.begin_set_parameter(&self.params.capture);
                    setter.set_parameter(&self.params.capture, on);
                    setter.end_set_parameter(&self.params.capture);
                }
                let label = ui.label("Capture length");
                ui.add(ParamSlider::for_param(&self.params.capture_seconds, setter))
                    .labelled_by(label.id);
            }
            let rate = self.shared.status.sample_rate().unwrap_or(0).max(1) as f64;
            let got = self.shared.captured.load(Relaxed) as f64 / rate;
            let cap = self.shared.capture_capacity.load(Relaxed) as f64 / rate;
            let state = if self.shared.capturing.load(Relaxed) {
                "recording"
            } else if self.shared.capture_taken.load(Relaxed) {
                "done (turn Capture off and on for a new take)"
            } else if self.shared.capture_full.load(Relaxed) {
                "full"
            } else {
                "idle"
            };
            ui.label(format!("Capture {state}: {got:.1} / {cap:.0} s"));
        });
    }

    fn waveform(&self, ui: &mut egui::Ui, song: &SongView) {
        ui.label(format!(
            "{} · {} · {:.1} BPM · {}/4 · {} beats · {} phrases · {} Hz",
            song.name,
            clock(song.duration_s),
            song.tempo_bpm,
            song.beats_per_bar,
            song.beats.len(),
            song.phrases.len(),
            song.sample_rate
        ));
        let width = ui.available_width().max(200.0);
        let (rect, resp) = ui.allocate_exact_size(vec2(width, 90.0), Sense::click());
        let resp = resp.on_hover_text(
            "Waveform with beats (grey), bars (blue) and phrases (orange); click to seek",
        );
        let painter = ui.painter_at(rect);
        painter.rect_filled(rect, 2.0, Color32::from_gray(24));
        let x_of = |t: f64| rect.left() + (t / song.duration_s.max(1e-9)) as f32 * rect.width();
        let mid = rect.center().y;
        let n = song.peaks.len().max(1) as f32;
        for (i, (lo, hi)) in song.peaks.iter().enumerate() {
            let x = rect.left() + (i as f32 + 0.5) / n * rect.width();
            let h = rect.height() * 0.5;
            painter.line_segment(
                [pos2(x, mid - hi * h), pos2(x, mid - lo * h)],
                Stroke::new(1.0, Color32::from_rgb(120, 170, 120)),
            );
        }
        let bar_starts: std::collections::HashSet<usize> = song.downbeats.iter().copied().collect();
        let phrase_starts: std::collections::HashSet<usize> =
            song.phrases.iter().map(|p| p.start).collect();
        for (i, t) in song.beats.iter().enumerate() {
            let x = x_of(*t);
            let (color, w) = if phrase_starts.contains(&i) {
                (Color32::from_rgb(230, 150, 40), 2.0)
            } else if bar_starts.contains(&i) {
                (Color32::from_rgb(90, 140, 230), 1.0)
            } else {
                (Color32::from_gray(70), 0.5)
            };
            painter.line_segment(
                [pos2(x, rect.top()), pos2(x, rect.bottom())],
                Stroke::new(w, color),
            );
        }
        let frames = self.shared.source_frames.load(Relaxed).max(1) as f32;
        let pos = self.shared.position.load(Relaxed) as f32;
        let x = rect.left() + (pos / frames).min(1.0) * rect.width();
        painter.line_segment(
            [pos2(x, rect.top()), pos2(x, rect.bottom())],
            Stroke::new(1.5, Color32::WHITE),
        );
        if resp.clicked()
            && let Some(p) = resp.interact_pointer_pos()
        {
            let f = ((p.x - rect.left()) / rect.width()).clamp(0.0, 1.0);
            self.shared.seek.store((f * frames) as u64, Relaxed);
        }
    }

    fn grid_section(&self, ui: &mut egui::Ui, song: &SongView) {
        use recut_engine::analysis::TempoCorrection;
        ui.horizontal(|ui| {
            ui.label("Grid:");
            let c = song.corrections;
            let send = |c: recut_engine::Corrections| {
                self.shared
                    .status
                    .set_message("re-analysing with the corrected grid…");
                self.shared.send(Command::Correct(c));
            };
            if ui
                .button("Half tempo")
                .on_hover_text("The beats are twice too fast")
                .clicked()
            {
                let tempo = if c.tempo == TempoCorrection::Double {
                    TempoCorrection::None
                } else {
                    TempoCorrection::Half
                };
                send(recut_engine::Corrections { tempo, ..c });
            }
            if ui
                .button("Double tempo")
                .on_hover_text("The beats are twice too slow")
                .clicked()
            {
                let tempo = if c.tempo == TempoCorrection::Half {
                    TempoCorrection::None
                } else {
                    TempoCorrection::Double
                };
                send(recut_engine::Corrections { tempo, ..c });
            }
            if ui.button("Downbeat −1").clicked() {
                send(recut_engine::Corrections {
                    downbeat_shift: c.downbeat_shift - 1,
                    ..c
                });
            }
            if ui.button("Downbeat +1").clicked() {
                send(recut_engine::Corrections {
                    downbeat_shift: c.downbeat_shift + 1,
                    ..c
                });
            }
            if ui.button("Reset grid").clicked() {
                send(recut_engine::Corrections::default());
            }
            ui.label(format!("({:?}, shift {})", c.tempo, c.downbeat_shift));
        });
    }

    fn settings_section(&self, ui: &mut egui::Ui, setter: Option<&ParamSetter>) {
        let mut s = self.session();
        let before = s.clone();
        egui::Grid::new("recut-settings")
            .num_columns(2)
            .spacing([12.0, 6.0])
            .show(ui, |ui| {
                if let Some(setter) = setter {
                    let label = ui.label("Target length");
                    ui.add(ParamSlider::for_param(&self.params.target_seconds, setter))
                        .labelled_by(label.id);
                    ui.end_row();
                    let label = ui.label("Granularity");
                    ui.add(ParamSlider::for_param(&self.params.granularity, setter))
                        .labelled_by(label.id);
                    ui.end_row();
                }
                ui.label("Keep");
                ui.horizontal(|ui| {
                    ui.checkbox(&mut s.keep_intro, "intro");
                    ui.checkbox(&mut s.keep_ending, "ending");
                });
                ui.end_row();
                let label = ui.label("Candidates");
                ui.add(
                    egui::DragValue::new(&mut s.n_candidates)
                        .range(2..=crate::worker::TEMPERATURES.len()),
                )
                .labelled_by(label.id);
                ui.end_row();
            });
        if s != before {
            self.update_session(|x| *x = s);
        }
        if ui.button("New candidates").clicked() {
            self.shared.status.set_message("making new candidates…");
            self.shared.send(Command::NewCandidates);
        }
    }

    fn candidates_section(&self, ui: &mut egui::Ui, song: &SongView) {
        ui.label(format!("Candidates ({})", song.policy));
        let (a, b) = (
            self.shared.pick_a.load(Relaxed),
            self.shared.pick_b.load(Relaxed),
        );
        for (i, c) in song.candidates.iter().enumerate() {
            ui.horizontal(|ui| {
                if ui
                    .selectable_label(a == i, "A")
                    .on_hover_text("Pick as A")
                    .clicked()
                {
                    self.set_picks(i, if b == i { a } else { b });
                }
                if ui
                    .selectable_label(b == i, "B")
                    .on_hover_text("Pick as B")
                    .clicked()
                {
                    self.set_picks(if a == i { b } else { a }, i);
                }
                ui.label(candidate_line(c));
                if ui.small_button("Export WAV").clicked() {
                    self.shared
                        .status
                        .set_message(format!("exporting {}…", c.id));
                    self.shared.send(Command::Export { source: i + 1 });
                }
            });
            blocks(ui, song, c);
        }
        let mut s = self.session();
        ui.horizontal(|ui| {
            let label = ui.label("Export folder (empty: next to the song)");
            let mut text = s
                .export_dir
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            if ui
                .text_edit_singleline(&mut text)
                .labelled_by(label.id)
                .changed()
            {
                s.export_dir =
                    Some(PathBuf::from(text.trim())).filter(|p| !p.as_os_str().is_empty());
                self.update_session(|x| x.export_dir = s.export_dir.clone());
            }
        });
    }

    fn transport_section(&self, ui: &mut egui::Ui, setter: Option<&ParamSetter>, song: &SongView) {
        ui.horizontal(|ui| {
            ui.label("Listen to:");
            let now = self.params.audition.value();
            for (a, name) in [
                (Audition::Original, "Original"),
                (Audition::A, "A"),
                (Audition::B, "B"),
            ] {
                if ui.selectable_label(now == a, name).clicked() {
                    self.set_audition(setter, a);
                }
            }
            let playing = self.shared.playing.load(Relaxed);
            if ui.button(if playing { "Stop" } else { "Play" }).clicked() {
                self.shared.want_play.store(!playing, Relaxed);
            }
            if ui.button("To start").clicked() {
                self.shared.seek.store(0, Relaxed);
            }
            let rate = f64::from(song.sample_rate.max(1));
            let pos = self.shared.position.load(Relaxed) as f64 / rate;
            let len = self.shared.source_frames.load(Relaxed) as f64 / rate;
            ui.label(format!("{} / {}", clock(pos), clock(len)));
        });
        ui.horizontal(|ui| {
            let rate = f64::from(song.sample_rate.max(1));
            let mut on = self.shared.loop_on.load(Relaxed);
            if ui.checkbox(&mut on, "Loop").changed() {
                self.shared.loop_on.store(on, Relaxed);
            }
            let mut start = self.shared.loop_start.load(Relaxed) as f64 / rate;
            let mut end = self.shared.loop_end.load(Relaxed) as f64 / rate;
            let label = ui.label("from (s)");
            if ui
                .add(
                    egui::DragValue::new(&mut start)
                        .speed(0.1)
                        .range(0.0..=f64::MAX),
                )
                .labelled_by(label.id)
                .changed()
            {
                self.shared.loop_start.store((start * rate) as u64, Relaxed);
            }
            let label = ui.label("to (s)");
            if ui
                .add(
                    egui::DragValue::new(&mut end)
                        .speed(0.1)
                        .range(0.0..=f64::MAX),
                )
                .labelled_by(label.id)
                .changed()
            {
                self.shared.loop_end.store((end * rate) as u64, Relaxed);
            }
            if ui.button("Set from playhead").clicked() {
                let p = self.shared.position.load(Relaxed);
                self.shared.loop_start.store(p, Relaxed);
                self.shared.loop_end.store(p + (8.0 * rate) as u64, Relaxed);
            }
        });
    }

    fn rating_section(
        &mut self,
        ui: &mut egui::Ui,
        setter: Option<&ParamSetter>,
        song: &SongView,
        count: usize,
    ) {
        ui.label(format!("Rate the pair ({count} ratings this session)"));
        let (a, b) = (
            self.shared.pick_a.load(Relaxed),
            self.shared.pick_b.load(Relaxed),
        );
        if song.candidates.len() < 2
            || a == b
            || a >= song.candidates.len()
            || b >= song.candidates.len()
        {
            ui.label("Pick two different candidates as A and B.");
            return;
        }
        let (left, right) = match self.left {
            Side::A => (Audition::A, Audition::B),
            Side::B => (Audition::B, Audition::A),
        };
        ui.horizontal(|ui| {
            if ui.button("Play left").clicked() {
                self.set_audition(setter, left);
                self.shared.want_play.store(true, Relaxed);
            }
            if ui.button("Play right").clicked() {
                self.set_audition(setter, right);
                self.shared.want_play.store(true, Relaxed);
            }
        });
        let side_pref = |s: Side| {
            if s == Side::A {
                Preference::A
            } else {
                Preference::B
            }
        };
        let other = |s: Side| if s == Side::A { Side::B } else { Side::A };
        let mut verdict: Option<(Preference, Option<TieKind>)> = None;
        ui.horizontal(|ui| {
            if ui.button("Left better").clicked() {
                verdict = Some((side_pref(self.left), None));
            }
            if ui.button("Right better").clicked() {
                verdict = Some((side_pref(other(self.left)), None));
            }
            if ui.button("Equally good").clicked() {
                verdict = Some((Preference::Tie, Some(TieKind::Good)));
            }
            if ui.button("Equally bad").clicked() {
                verdict = Some((Preference::Tie, Some(TieKind::Bad)));
            }
        });
        ui.horizontal(|ui| {
            ui.label("Strength:");
            for (v, name) in [(1u8, "slight"), (2, "moderate"), (3, "strong")] {
                ui.radio_value(&mut self.strength, v, name);
            }
        });
        ui.horizontal(|ui| {
            let label = ui.label("Notes");
            ui.text_edit_singleline(&mut self.notes)
                .labelled_by(label.id);
        });
        let mut s = self.session();
        ui.horizontal(|ui| {
            let label = ui.label("Rater");
            if ui
                .text_edit_singleline(&mut s.rater)
                .labelled_by(label.id)
                .changed()
            {
                self.update_session(|x| x.rater = s.rater.clone());
            }
            let label = ui.label("Feedback folder");
            let mut text = s.store_dir.display().to_string();
            if ui
                .text_edit_singleline(&mut text)
                .labelled_by(label.id)
                .changed()
            {
                self.update_session(|x| x.store_dir = PathBuf::from(text.trim()));
            }
        });
        if let Some((preference, tie_kind)) = verdict {
            self.shared.send(Command::Rate(RatingInput {
                a,
                b,
                preference,
                tie_kind,
                strength: self.strength,
                notes: std::mem::take(&mut self.notes),
                left: self.left,
            }));
            self.next_pair(song.candidates.len());
        }
        if ui.button("Next pair").clicked() {
            self.next_pair(song.candidates.len());
        }
    }

    /// A random pair of distinct candidates in a random left/right order.
    fn next_pair(&mut self, n: usize) {
        if n < 2 {
            return;
        }
        let a = (self.next_random() % n as u64) as usize;
        let b = (a + 1 + (self.next_random() % (n as u64 - 1)) as usize) % n;
        self.set_picks(a, b);
        self.left = if self.next_random() & 1 == 0 {
            Side::A
        } else {
            Side::B
        };
    }
}

fn clock(s: f64) -> String {
    let s = s.max(0.0);
    format!("{}:{:04.1}", (s / 60.0).floor() as u64, s % 60.0)
}

/// "temp_0.3 · 2:01.5 · 6 splices · reward 0.72".
pub fn candidate_line(c: &CandidateView) -> String {
    let reward = c
        .dense
        .map(|d| format!(" · reward {d:.2}"))
        .unwrap_or_default();
    format!(
        "{} · {} · {} splices{}",
        c.id,
        clock(c.duration_s),
        c.splices,
        reward
    )
}

/// The plan as coloured blocks over the original's timeline: kept (green), cut (dark),
/// looped (orange).
fn blocks(ui: &mut egui::Ui, song: &SongView, c: &CandidateView) {
    let width = ui.available_width().max(200.0);
    let (rect, _) = ui.allocate_exact_size(vec2(width, 10.0), Sense::hover());
    let painter = ui.painter_at(rect);
    let x_of = |t: f64| rect.left() + (t / song.duration_s.max(1e-9)) as f32 * rect.width();
    for (i, a) in c.actions.iter().enumerate() {
        let t0 = if i == 0 { 0.0 } else { song.beats[i] };
        let t1 = song.beats.get(i + 1).copied().unwrap_or(song.duration_s);
        let color = match a {
            Action::Keep => Color32::from_rgb(70, 160, 90),
            Action::Cut => Color32::from_gray(45),
            Action::Loop => Color32::from_rgb(230, 150, 40),
        };
        painter.rect_filled(
            Rect::from_min_max(pos2(x_of(t0), rect.top()), pos2(x_of(t1), rect.bottom())),
            0.0,
            color,
        );
    }
}

impl NiceEguiApp for RecutApp {
    fn build(
        &mut self,
        _egui_ctx: egui::Context,
        nice_gui_ctx: GuiContext,
        _frame: &mut Frame,
    ) -> Result<(), nice_plug_egui::baseview::HandlerError> {
        self.gui = Some(nice_gui_ctx);
        Ok(())
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut Frame) {
        let gui = self.gui.clone();
        let setter = gui.as_ref().map(|gui| gui.param_setter());
        self.draw(ui, setter.as_ref());
        ui.ctx()
            .request_repaint_after(std::time::Duration::from_millis(100));
    }

    fn resized(&mut self, new_size: WindowSize) {
        self.update_prefs(|p| {
            p.width = new_size.logical.width.round() as u32;
            p.height = new_size.logical.height.round() as u32;
        });
    }

    fn zoom_factor_changed(&mut self, zoom_factor: f32) {
        self.update_prefs(|p| p.zoom = zoom_factor);
    }

    fn editor_closed(&mut self) {
        self.gui = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::worker::View;

    fn song_view() -> SongView {
        let beats: Vec<f64> = (0..64).map(|i| 0.25 + i as f64 * 0.5).collect();
        SongView {
            name: "demo".into(),
            path: None,
            duration_s: 32.5,
            sample_rate: 48_000,
            tempo_bpm: 120.0,
            beats_per_bar: 4,
            peaks: (0..500)
                .map(|i| (-(i as f32 / 500.0), i as f32 / 500.0))
                .collect(),
            downbeats: (0..16).map(|b| b * 4).collect(),
            phrases: (0..4).map(|p| p * 16..p * 16 + 16).collect(),
            beats,
            corrections: Default::default(),
            candidates: (0..3)
                .map(|k| CandidateView {
                    id: format!("temp_0.{k}"),
                    temperature: k as f64 / 10.0,
                    duration_s: 20.0,
                    splices: k,
                    actions: (0..64).map(|i| Action::ALL[(i / 8 + k) % 3]).collect(),
                    dense: Some(0.5),
                })
                .collect(),
            policy: "baseline policy: test".into(),
        }
    }

    /// Draws the editor headless (no renderer) with and without a song, and checks the
    /// rating panel's pair picking.
    #[test]
    fn editor_draws_without_a_host() {
        let (tx, _rx) = crossbeam_channel::unbounded();
        let shared = Arc::new(Shared::new(tx));
        let params = Arc::new(RecutParams::default());
        let mut app = RecutApp::new(params.clone(), shared.clone());
        let ctx = egui::Context::default();
        let frame = |app: &mut RecutApp| {
            let out = ctx.run_ui(egui::RawInput::default(), |ui| app.draw(ui, None));
            assert!(!out.shapes.is_empty());
        };
        frame(&mut app);
        shared.set_view(View {
            song: Some(song_view()),
            ratings: 2,
            last_ready_s: Some(0.5),
        });
        frame(&mut app);
        frame(&mut app);
        for _ in 0..50 {
            app.next_pair(3);
            let (a, b) = (shared.pick_a.load(Relaxed), shared.pick_b.load(Relaxed));
            assert!(a < 3 && b < 3 && a != b);
            assert_eq!(
                (
                    params.session.read().unwrap().pick_a,
                    params.session.read().unwrap().pick_b
                ),
                (a, b)
            );
        }
        assert_eq!(
            candidate_line(&song_view().candidates[1]),
            "temp_0.1 · 0:20.0 · 1 splices · reward 0.50"
        );
    }
}
