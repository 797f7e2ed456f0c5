//! The egui editor: title, the two parameters as labelled sliders, and a status line.
//! Widgets carry labels so screen readers (and egui_kittest's accessibility checks) find them.

use crate::params::{EditorPrefs, RecutParams};
use crate::status::Status;
use nice_plug::context::gui::GuiContext;
use nice_plug::editor::dpi::LogicalSize;
use nice_plug::prelude::*;
use nice_plug_egui::baseview::WindowSize;
use nice_plug_egui::widgets::ParamSlider;
use nice_plug_egui::{
    EguiEditor, EguiEditorState, EguiNiceSettings, Frame, NiceEguiApp, RepaintNotifier,
};
use std::sync::Arc;

pub type RecutEditor = EguiEditor<RecutApp>;

/// Builds the editor at the size and zoom persisted in the params.
pub fn create(params: Arc<RecutParams>, status: Arc<Status>) -> Option<RecutEditor> {
    let prefs = *params.editor.read().unwrap_or_else(|e| e.into_inner());
    let size = LogicalSize::new(prefs.width as f64, prefs.height as f64);
    let state = EguiEditorState::from_size(size, prefs.zoom.max(0.25));
    let settings = EguiNiceSettings::new().with_tile("Recut");
    nice_plug_egui::create_egui_editor(
        state,
        RepaintNotifier::new(),
        settings,
        RecutApp::new(params, status),
    )
}

/// The editor's app state; lives on the GUI thread.
pub struct RecutApp {
    params: Arc<RecutParams>,
    status: Arc<Status>,
    gui: Option<GuiContext>,
}

impl RecutApp {
    pub fn new(params: Arc<RecutParams>, status: Arc<Status>) -> Self {
        Self {
            params,
            status,
            gui: None,
        }
    }

    fn update_prefs(&self, change: impl FnOnce(&mut EditorPrefs)) {
        let mut prefs = self
            .params
            .editor
            .write()
            .unwrap_or_else(|e| e.into_inner());
        change(&mut prefs);
    }

    /// Draws the whole editor; `setter` is None outside a host (tests), where sliders are omitted.
    pub fn draw(&self, ui: &mut egui::Ui, setter: Option<&ParamSetter>) {
        ui.heading("Recut");
        ui.add_space(8.0);
        if let Some(setter) = setter {
            egui::Grid::new("recut-params")
                .num_columns(2)
                .spacing([12.0, 6.0])
                .show(ui, |ui| {
                    let label = ui.label("Target length");
                    ui.add(ParamSlider::for_param(&self.params.target_seconds, setter))
                        .labelled_by(label.id);
                    ui.end_row();
                    let label = ui.label("Granularity");
                    ui.add(ParamSlider::for_param(&self.params.granularity, setter))
                        .labelled_by(label.id);
                    ui.end_row();
                });
        }
        ui.add_space(8.0);
        ui.separator();
        ui.horizontal(|ui| {
            let label = ui.label("Status:");
            ui.label(self.status.line()).labelled_by(label.id);
        });
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
        let setter = self.gui.as_ref().map(|gui| gui.param_setter());
        self.draw(ui, setter.as_ref());
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
