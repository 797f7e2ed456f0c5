//! Rendering: crossfaded splices, block-wise real-time rendering equal to whole-file.

mod edit_support;

use edit_support::default_song;
use recut_engine::audio::Audio;
use recut_engine::edit::{Action, Crossfade, Plan, Renderer, render};

fn edited_plan(a: &recut_engine::Analysis, sr: u32) -> Plan {
    let mut actions = vec![Action::Keep; a.beats.len()];
    actions[16..32].fill(Action::Cut);
    actions[40] = Action::Loop;
    actions[42] = Action::Loop;
    actions[60] = Action::Cut;
    actions[a.beats.len() - 1] = Action::Cut;
    Plan::from_actions(a, actions, sr).unwrap()
}

fn render_blocks(r: &Renderer, audio: &Audio, block: usize) -> Vec<Vec<f32>> {
    let mut out = vec![Vec::new(); audio.channels.len()];
    let mut bufs = vec![vec![0.0f32; block]; audio.channels.len()];
    let mut pos = 0;
    loop {
        let mut slices: Vec<&mut [f32]> = bufs.iter_mut().map(Vec::as_mut_slice).collect();
        let n = r.render_into(audio, &mut slices, pos);
        if n == 0 {
            break;
        }
        for (o, b) in out.iter_mut().zip(&bufs) {
            o.extend_from_slice(&b[..n]);
        }
        pos += n;
    }
    out
}

#[test]
fn blocks_of_1_64_4096_equal_the_whole_render_bit_exactly() {
    let (audio, a) = default_song();
    let plan = edited_plan(&a, audio.sample_rate);
    assert!(plan.splice_count() >= 4);
    for xf in [0.0, 0.003, 0.010, 0.5] {
        let crossfade = Crossfade::new(xf).unwrap();
        let whole = render(&audio, &plan, crossfade).unwrap();
        let r = Renderer::new(&plan, crossfade);
        for block in [1, 64, 4096] {
            let blocks = render_blocks(&r, &audio, block);
            assert_eq!(blocks.len(), whole.channels.len());
            for (b, w) in blocks.iter().zip(&whole.channels) {
                assert!(
                    b.iter()
                        .map(|x| x.to_bits())
                        .eq(w.iter().map(|x| x.to_bits())),
                    "block {block}, crossfade {xf}"
                );
            }
        }
    }
}

#[test]
fn all_keep_renders_the_original_exactly() {
    let (audio, a) = default_song();
    let plan =
        Plan::from_actions(&a, vec![Action::Keep; a.beats.len()], audio.sample_rate).unwrap();
    let out = render(&audio, &plan, Crossfade::default()).unwrap();
    assert_eq!(out, audio);
}

#[test]
fn output_length_matches_plan_duration() {
    let (audio, a) = default_song();
    let plan = edited_plan(&a, audio.sample_rate);
    let out = render(&audio, &plan, Crossfade::default()).unwrap();
    assert_eq!(out.frames(), plan.output_frames());
    assert!((out.duration_s() - plan.duration_s()).abs() < 1e-12);
    assert_eq!(out.sample_rate, audio.sample_rate);
    assert_eq!(out.channels.len(), audio.channels.len());
}

#[test]
fn incoming_attack_is_at_full_gain_and_the_fade_is_before_it() {
    let (audio, a) = default_song();
    let sr = audio.sample_rate;
    let mut actions = vec![Action::Keep; a.beats.len()];
    actions[16..32].fill(Action::Cut);
    let plan = Plan::from_actions(&a, actions, sr).unwrap();
    let xf = Crossfade::new(0.010).unwrap();
    let l = xf.frames(sr);
    let out = render(&audio, &plan, xf).unwrap();
    let splice_out = plan.segments[0].len();
    let src_in = plan.segments[1].start;
    for c in 0..audio.channels.len() {
        // From the splice on: the incoming source, untouched.
        for k in 0..2000 {
            assert_eq!(
                out.channels[c][splice_out + k].to_bits(),
                audio.channels[c][src_in + k].to_bits()
            );
        }
        // Before the crossfade: the outgoing source, untouched.
        let pre = splice_out - l - 1;
        assert_eq!(out.channels[c][pre], audio.channels[c][pre]);
        // Inside: an equal-power mix of the outgoing tail and the incoming pre-roll.
        let k = l / 2;
        let p = splice_out - l + k;
        let t = (k as f64 + 0.5) / l as f64 * std::f64::consts::FRAC_PI_2;
        let expect = audio.channels[c][p] * t.cos() as f32
            + audio.channels[c][src_in - l + k] * t.sin() as f32;
        assert!((out.channels[c][p] - expect).abs() < 1e-6);
    }
}

#[test]
fn mismatched_audio_and_bad_crossfades_are_errors() {
    let (audio, a) = default_song();
    let plan = edited_plan(&a, audio.sample_rate);
    let mut short = audio.clone();
    short.channels.iter_mut().for_each(|c| c.truncate(1000));
    assert!(
        render(&short, &plan, Crossfade::default())
            .unwrap_err()
            .to_string()
            .contains("frames")
    );
    assert!(Crossfade::new(-0.1).is_err());
    assert!(Crossfade::new(f64::NAN).is_err());
    assert!(Crossfade::new(10.0).is_err());
}

#[test]
fn render_into_past_the_end_writes_nothing_and_extra_channels_are_silent() {
    let (audio, a) = default_song();
    let plan = edited_plan(&a, audio.sample_rate);
    let r = Renderer::new(&plan, Crossfade::default());
    let mut b0 = vec![1.0f32; 64];
    let mut b1 = vec![1.0f32; 64];
    let mut b2 = vec![1.0f32; 64];
    let mut bufs: Vec<&mut [f32]> = vec![&mut b0, &mut b1, &mut b2];
    assert_eq!(r.render_into(&audio, &mut bufs, r.total_frames()), 0);
    assert_eq!(r.render_into(&audio, &mut bufs, r.total_frames() - 10), 10);
    assert!(b2[..10].iter().all(|x| *x == 0.0));
}
