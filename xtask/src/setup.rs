//! `cargo xtask setup`: everything Recut needs that cargo does not fetch.
//!
//! * libtorch 2.11.0 (for tch 0.24) taken from the PyPI `torch` wheel, CPU layout only: the
//!   trainer links `libtorch_cpu`, `libtorch`, `libc10` and `libgomp`, and libtorch's CPU
//!   libraries need `libcudart.so.13` / `libcupti.so.13` at load time, which come from the
//!   NVIDIA runtime wheels. `libtorch_cuda.so` is left out on purpose: torch-sys links it
//!   whenever it is present in the lib dir.
//! * ONNX Runtime 1.31.1 from the `onnxruntime` wheel (ort loads it dynamically).
//! * Debian packages the plugin build, the headless GUI tests and the corpus need.
//! * Ardour's VST3 scanner (`ardour-vst3-scanner`, the tool Ardour runs on every VST3 bundle
//!   before loading it) for `tests/tests/plugin_vst3_scanner.rs`: Debian's `ardour` package
//!   and the libraries it needs that a bare system lacks, fetched with `apt-get download`
//!   into `~/.cache/recut/debs` and unpacked into `.deps/ardour/` (no Ardour install).
//!
//! Idempotent and fast when done: a stamp in `.deps/` records the pinned versions, and
//! every file is written to a temporary name and renamed, so an interrupted run never leaves
//! a half file that a later run would trust.

use crate::paths;
use crate::run;
use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// Bump when the layout under `.deps/` changes, so old layouts are rebuilt.
const LAYOUT_VERSION: u32 = 1;
/// The libtorch version tch 0.24 / torch-sys 0.24 is built against.
const TORCH_VERSION: &str = "2.11.0";
const ORT_VERSION: &str = "1.31.1";

/// A wheel pinned by pip spec; `file_prefix` finds it in the cache by file name.
struct Wheel {
    spec: &'static str,
    file_prefix: &'static str,
}

const TORCH: Wheel = Wheel {
    spec: "torch==2.11.0",
    file_prefix: "torch-2.11.0-",
};
const CUDART: Wheel = Wheel {
    spec: "nvidia-cuda-runtime==13.0.96.*",
    file_prefix: "nvidia_cuda_runtime-13.0.96",
};
const CUPTI: Wheel = Wheel {
    spec: "nvidia-cuda-cupti==13.0.85.*",
    file_prefix: "nvidia_cuda_cupti-13.0.85",
};
const ONNXRUNTIME: Wheel = Wheel {
    spec: "onnxruntime==1.31.1",
    file_prefix: "onnxruntime-1.31.1-",
};
const WHEELS: [&Wheel; 4] = [&TORCH, &CUDART, &CUPTI, &ONNXRUNTIME];

/// One file taken out of a wheel: the member's path prefix in the zip (the exact file name
/// is kept, since libraries find each other by soname) and the destination folder.
struct Member {
    wheel: &'static Wheel,
    zip_path: &'static str,
    dest_dir: &'static str,
}

/// Files of the layout, relative to `.deps/`. `libgomp` is matched by prefix because some
/// torch wheels ship it under a hashed name (`libgomp-<hash>.so.1`); 2.11.0 has `libgomp.so.1`.
const MEMBERS: &[Member] = &[
    Member {
        wheel: &TORCH,
        zip_path: "torch/lib/libtorch_cpu.so",
        dest_dir: "libtorch/lib",
    },
    Member {
        wheel: &TORCH,
        zip_path: "torch/lib/libtorch.so",
        dest_dir: "libtorch/lib",
    },
    Member {
        wheel: &TORCH,
        zip_path: "torch/lib/libc10.so",
        dest_dir: "libtorch/lib",
    },
    Member {
        wheel: &TORCH,
        zip_path: "torch/lib/libgomp",
        dest_dir: "libtorch/lib",
    },
    Member {
        wheel: &CUDART,
        zip_path: "nvidia/cu13/lib/libcudart.so.13",
        dest_dir: "libtorch/lib",
    },
    Member {
        wheel: &CUPTI,
        zip_path: "nvidia/cu13/lib/libcupti.so.13",
        dest_dir: "libtorch/lib",
    },
    Member {
        wheel: &ONNXRUNTIME,
        zip_path: "onnxruntime/capi/libonnxruntime.so.1.31.1",
        dest_dir: "onnxruntime",
    },
    // Tiny; the CUDA execution provider cannot load without it.
    Member {
        wheel: &ONNXRUNTIME,
        zip_path: "onnxruntime/capi/libonnxruntime_providers_shared.so",
        dest_dir: "onnxruntime",
    },
];

/// The wheel's header tree, extracted whole to `.deps/libtorch/include`.
const TORCH_INCLUDE: &str = "torch/include/";

/// Debian packages: runtime (headless GUI tests on Mesa, corpus rendering, the beat-eval venv)
/// and build (baseview/egui link X11, xcb and GL; nice-plug's standalone feature needs ALSA
/// and JACK headers; tch compiles C++).
pub const SYSTEM_PACKAGES: &[&str] = &[
    "xvfb",
    "mesa-vulkan-drivers",
    "libgl1-mesa-dri",
    "libvulkan1",
    "fluidsynth",
    "python3-venv",
    "libasound2",
    "libxcursor1",
    "libxrandr2",
    "libxi6",
    "libx11-xcb1",
    "libxkbcommon-x11-0",
    "pkg-config",
    "g++",
    "libasound2-dev",
    "libjack-jackd2-dev",
    "libgl-dev",
    "libx11-dev",
    "libx11-xcb-dev",
    "libxcb1-dev",
    "libxcb-dri2-0-dev",
    "libxcb-icccm4-dev",
    "libxcb-shape0-dev",
    "libxcb-xfixes0-dev",
    "libxcursor-dev",
    "libxkbcommon-dev",
    // What Ardour's VST3 scanner and the libraries unpacked beside it (see
    // `SCANNER_MEMBERS`) load from the system.
    "libglib2.0-0",
    "libxml2",
    "libcurl3-gnutls",
];

/// Runs every setup step; cheap when the stamp says the layout is current.
pub fn setup() -> Result<()> {
    let started = Instant::now();
    ensure_system_packages()?;
    let deps = paths::deps_dir();
    ensure_vst3_scanner(&deps)?;
    if layout_is_current(&deps) {
        eprintln!(
            "xtask setup: .deps up to date ({:.2} s)",
            started.elapsed().as_secs_f64()
        );
        return Ok(());
    }
    build_layout(&deps)?;
    eprintln!(
        "xtask setup: done in {:.1} s (libtorch {TORCH_VERSION} CPU layout and ONNX Runtime {ORT_VERSION} in {})",
        started.elapsed().as_secs_f64(),
        deps.display()
    );
    Ok(())
}

/// Runs setup only when the stamp is missing or stale (demo, test and bench call this).
pub fn setup_if_needed() -> Result<()> {
    let deps = paths::deps_dir();
    if layout_is_current(&deps) && vst3_scanner_is_current(&deps) {
        return Ok(());
    }
    setup()
}

/// The stamp's content: changes whenever a pin or the layout changes.
fn stamp_key() -> String {
    let mut key = format!("recut deps layout {LAYOUT_VERSION}\n");
    for wheel in WHEELS {
        key.push_str(wheel.spec);
        key.push('\n');
    }
    key
}

fn stamp_path(deps: &Path) -> PathBuf {
    deps.join("setup.stamp")
}

/// True when the stamp matches the pins and the files it vouches for are still there.
fn layout_is_current(deps: &Path) -> bool {
    let stamp_ok = fs::read_to_string(stamp_path(deps)).is_ok_and(|s| s == stamp_key());
    stamp_ok
        && deps.join("libtorch/lib/libtorch_cpu.so").is_file()
        && deps.join("libtorch/include/torch").is_dir()
        && deps.join("onnxruntime/libonnxruntime.so").exists()
}

/// Fetches missing wheels and extracts the layout, then writes the stamp last.
fn build_layout(deps: &Path) -> Result<()> {
    if fs::read_to_string(stamp_path(deps)).is_ok_and(|s| s != stamp_key()) {
        eprintln!("xtask setup: pins changed, rebuilding .deps layout");
        remove_if_exists(&deps.join("libtorch"))?;
        remove_if_exists(&deps.join("onnxruntime"))?;
    }
    let _ = fs::remove_file(stamp_path(deps));
    let cache = paths::wheel_cache();
    let torch = find_or_download(&cache, &TORCH)?;
    extract_members(deps, &torch, &TORCH)?;
    extract_include_tree(deps, &torch)?;
    for wheel in [&CUDART, &CUPTI, &ONNXRUNTIME] {
        let path = find_or_download(&cache, wheel)?;
        extract_members(deps, &path, wheel)?;
    }
    link_onnxruntime(deps)?;
    write_atomic(
        &deps.join("libtorch/build-version"),
        TORCH_VERSION.as_bytes(),
    )?;
    check_no_cuda_torch(deps);
    write_atomic(&stamp_path(deps), stamp_key().as_bytes())
}

/// Returns the cached wheel for `wheel`, downloading it with pip (no `--platform`: the
/// machine's own Python picks the right build) when the cache has none.
fn find_or_download(cache: &Path, wheel: &Wheel) -> Result<PathBuf> {
    if let Some(found) = find_cached(cache, wheel)? {
        return Ok(found);
    }
    fs::create_dir_all(cache).with_context(|| format!("creating {}", cache.display()))?;
    eprintln!(
        "xtask setup: downloading {} into {}",
        wheel.spec,
        cache.display()
    );
    let status = Command::new("python3")
        .args([
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--disable-pip-version-check",
            "-d",
        ])
        .arg(cache)
        .arg(wheel.spec)
        .status()
        .context("could not run `python3 -m pip` (is python3 with pip installed?)")?;
    if !status.success() {
        bail!(
            "downloading the wheel for `{}` with pip failed ({status})",
            wheel.spec
        );
    }
    find_cached(cache, wheel)?.with_context(|| {
        format!(
            "pip reported success but no wheel for `{}` is in {}",
            wheel.spec,
            cache.display()
        )
    })
}

fn find_cached(cache: &Path, wheel: &Wheel) -> Result<Option<PathBuf>> {
    let Ok(entries) = fs::read_dir(cache) else {
        return Ok(None);
    };
    let mut found: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().unwrap_or_default().to_string_lossy();
            name.starts_with(wheel.file_prefix)
                && name.ends_with(".whl")
                && (name.contains("x86_64") || name.contains("-none-any"))
        })
        .collect();
    found.sort();
    Ok(found.pop())
}

fn open_wheel(path: &Path) -> Result<zip::ZipArchive<fs::File>> {
    let file = fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    zip::ZipArchive::new(file).with_context(|| {
        format!(
            "{} is not a readable wheel (delete it to re-download)",
            path.display()
        )
    })
}

/// Extracts this wheel's [`MEMBERS`]; a destination already complete (same size) is kept,
/// so a re-run after an interruption resumes rather than starts over.
fn extract_members(deps: &Path, wheel_path: &Path, wheel: &Wheel) -> Result<()> {
    let mut archive = open_wheel(wheel_path)?;
    let names: Vec<String> = archive
        .file_names()
        .filter_map(|n| n.ok().map(|n| n.into_owned()))
        .collect();
    for member in MEMBERS.iter().filter(|m| std::ptr::eq(m.wheel, wheel)) {
        let name = names
            .iter()
            .find(|n| n.starts_with(member.zip_path) && is_library_name(n))
            .with_context(|| format!("{} has no {}", wheel_path.display(), member.zip_path))?
            .clone();
        let file_name = name.rsplit('/').next().unwrap_or(&name);
        let dest = deps.join(member.dest_dir).join(file_name);
        let mut entry = archive.by_name(&name)?;
        if fs::metadata(&dest).is_ok_and(|m| m.len() == entry.size()) {
            continue;
        }
        let bar = byte_bar(entry.size(), file_name);
        write_atomic_from(&dest, &mut bar.wrap_read(&mut entry), 0o755)?;
        bar.finish_and_clear();
        eprintln!("xtask setup: {}", dest.display());
    }
    Ok(())
}

/// Library files only (not e.g. a `.py` that shares the prefix).
fn is_library_name(name: &str) -> bool {
    name.ends_with(".so") || name.contains(".so.")
}

/// Extracts `torch/include/` into `.deps/libtorch/include` through a temporary folder renamed
/// at the end, so the folder is either absent or complete.
fn extract_include_tree(deps: &Path, wheel_path: &Path) -> Result<()> {
    let dest = deps.join("libtorch/include");
    if dest.is_dir() {
        return Ok(());
    }
    let partial = deps.join("libtorch/include.partial");
    remove_if_exists(&partial)?;
    let mut archive = open_wheel(wheel_path)?;
    let bar = ProgressBar::new(archive.len() as u64).with_message("torch headers");
    bar.set_style(ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len}").unwrap());
    for i in 0..archive.len() {
        bar.inc(1);
        let mut entry = archive.by_index(i)?;
        let Some(rel) = entry.enclosed_name() else {
            continue;
        };
        let Ok(rel) = rel.strip_prefix(TORCH_INCLUDE) else {
            continue;
        };
        if entry.is_dir() {
            continue;
        }
        let out = partial.join(rel);
        fs::create_dir_all(out.parent().unwrap())?;
        let mut file =
            fs::File::create(&out).with_context(|| format!("creating {}", out.display()))?;
        io::copy(&mut entry, &mut file)?;
    }
    bar.finish_and_clear();
    fs::rename(&partial, &dest).with_context(|| format!("renaming into {}", dest.display()))?;
    eprintln!("xtask setup: {}", dest.display());
    Ok(())
}

/// `libonnxruntime.so` -> `libonnxruntime.so.1.31.1`, the name ort's loader looks for.
fn link_onnxruntime(deps: &Path) -> Result<()> {
    let dir = deps.join("onnxruntime");
    let link = dir.join("libonnxruntime.so");
    let target = format!("libonnxruntime.so.{ORT_VERSION}");
    if fs::read_link(&link).is_ok_and(|t| t == Path::new(&target)) {
        return Ok(());
    }
    let tmp = dir.join("libonnxruntime.so.partial");
    let _ = fs::remove_file(&tmp);
    std::os::unix::fs::symlink(&target, &tmp)?;
    fs::rename(&tmp, &link)?;
    Ok(())
}

/// torch-sys links `libtorch_cuda.so` whenever it is in the lib dir; say so if someone put it there.
fn check_no_cuda_torch(deps: &Path) {
    if deps.join("libtorch/lib/libtorch_cuda.so").exists() {
        eprintln!(
            "xtask setup: note: .deps/libtorch/lib/libtorch_cuda.so is present, so every tch build links it \
             (CUDA layout); remove it for the CPU layout"
        );
    }
}

fn byte_bar(len: u64, name: &str) -> ProgressBar {
    let bar = ProgressBar::new(len).with_message(name.to_owned());
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec}")
            .unwrap(),
    );
    bar
}

/// Writes `bytes` to `dest` by temp file + rename.
fn write_atomic(dest: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_from(dest, &mut &bytes[..], 0o644)
}

/// Streams `reader` into `dest` by temp file + fsync + rename, with unix `mode`.
fn write_atomic_from(dest: &Path, reader: &mut dyn io::Read, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let dir = dest.parent().context("destination has no folder")?;
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = dir.join(format!(
        ".{}.partial",
        dest.file_name().unwrap_or_default().to_string_lossy()
    ));
    {
        let mut file =
            fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        io::copy(reader, &mut file).with_context(|| format!("writing {}", tmp.display()))?;
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        file.sync_all()?;
    }
    fs::rename(&tmp, dest).with_context(|| format!("renaming into {}", dest.display()))
}

fn remove_if_exists(path: &Path) -> Result<()> {
    match fs::remove_dir_all(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing {}", path.display()))
        }
        _ => Ok(()),
    }
}

// ---- Ardour's VST3 scanner -----------------------------------------------------------

/// A file taken out of a Debian package: the path inside it and the destination relative
/// to `.deps/ardour/`, named by soname so the scanner finds it through `LD_LIBRARY_PATH`.
struct DebMember {
    package: &'static str,
    path: &'static str,
    dest: &'static str,
}

/// Ardour 7's scanner and the libraries it needs beyond a bare Debian 12: its own `libpbd`,
/// glibmm/giomm, sigc++ and libarchive (their own dependencies, glib, libxml2, zstd…,
/// are on the system).
const SCANNER_MEMBERS: &[DebMember] = &[
    DebMember {
        package: "ardour",
        path: "usr/lib/ardour7/ardour-vst3-scanner",
        dest: "ardour-vst3-scanner",
    },
    DebMember {
        package: "ardour",
        path: "usr/lib/ardour7/libpbd.so.4",
        dest: "lib/libpbd.so.4",
    },
    DebMember {
        package: "libglibmm-2.4-1v5",
        path: "usr/lib/x86_64-linux-gnu/libglibmm-2.4.so.1",
        dest: "lib/libglibmm-2.4.so.1",
    },
    DebMember {
        package: "libglibmm-2.4-1v5",
        path: "usr/lib/x86_64-linux-gnu/libgiomm-2.4.so.1",
        dest: "lib/libgiomm-2.4.so.1",
    },
    DebMember {
        package: "libsigc++-2.0-0v5",
        path: "usr/lib/x86_64-linux-gnu/libsigc-2.0.so.0",
        dest: "lib/libsigc-2.0.so.0",
    },
    DebMember {
        package: "libarchive13",
        path: "usr/lib/x86_64-linux-gnu/libarchive.so.13",
        dest: "lib/libarchive.so.13",
    },
];

/// Packages in [`SCANNER_MEMBERS`], in order, without repeats.
fn scanner_packages() -> Vec<&'static str> {
    let mut packages: Vec<&'static str> = Vec::new();
    for m in SCANNER_MEMBERS {
        if !packages.contains(&m.package) {
            packages.push(m.package);
        }
    }
    packages
}

fn scanner_stamp_key() -> String {
    let mut key = format!("recut ardour vst3 scanner layout {LAYOUT_VERSION}\n");
    for m in SCANNER_MEMBERS {
        key.push_str(&format!("{} {} -> {}\n", m.package, m.path, m.dest));
    }
    key
}

/// `~/.cache/recut/debs` (beside the wheel cache).
fn deb_cache() -> PathBuf {
    paths::wheel_cache().with_file_name("debs")
}

/// True when `.deps/ardour/` holds every member and its stamp matches.
fn vst3_scanner_is_current(deps: &Path) -> bool {
    let dir = deps.join("ardour");
    fs::read_to_string(dir.join("setup.stamp")).is_ok_and(|s| s == scanner_stamp_key())
        && SCANNER_MEMBERS.iter().all(|m| dir.join(m.dest).is_file())
}

/// Lays out `.deps/ardour/` from cached (or freshly downloaded) `.deb` files. Skipped with a
/// note on systems without dpkg/apt; on Debian a failed download fails setup.
fn ensure_vst3_scanner(deps: &Path) -> Result<()> {
    if vst3_scanner_is_current(deps) {
        return Ok(());
    }
    if !Path::new("/usr/bin/apt-get").exists() || !Path::new("/usr/bin/dpkg-deb").exists() {
        eprintln!(
            "xtask setup: not a Debian system, skipping Ardour's VST3 scanner \
             (tests/tests/plugin_vst3_scanner.rs will fail); it needs {}",
            scanner_packages().join(" ")
        );
        return Ok(());
    }
    let cache = deb_cache();
    fs::create_dir_all(&cache).with_context(|| format!("creating {}", cache.display()))?;
    let dir = deps.join("ardour");
    let partial = deps.join("ardour.partial");
    remove_if_exists(&partial)?;
    for package in scanner_packages() {
        let deb = find_or_download_deb(&cache, package)?;
        let unpacked = partial.join("unpacked").join(package);
        fs::create_dir_all(&unpacked)?;
        run::run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&unpacked))
            .with_context(|| format!("unpacking {} (delete it to re-download)", deb.display()))?;
        for m in SCANNER_MEMBERS.iter().filter(|m| m.package == package) {
            let from = unpacked.join(m.path);
            let mut file = fs::File::open(&from).with_context(|| {
                format!(
                    "{} has no {} (another version of the package?)",
                    deb.display(),
                    m.path
                )
            })?;
            write_atomic_from(&partial.join(m.dest), &mut file, 0o755)?;
        }
    }
    remove_if_exists(&partial.join("unpacked"))?;
    write_atomic(&partial.join("setup.stamp"), scanner_stamp_key().as_bytes())?;
    remove_if_exists(&dir)?;
    fs::rename(&partial, &dir).with_context(|| format!("renaming into {}", dir.display()))?;
    eprintln!("xtask setup: Ardour's VST3 scanner in {}", dir.display());
    Ok(())
}

/// The newest cached `<package>_*.deb`, else `apt-get download` into the cache (as root an
/// `apt-get update` is tried once when the download fails, e.g. on empty package lists).
fn find_or_download_deb(cache: &Path, package: &str) -> Result<PathBuf> {
    if let Some(found) = find_cached_deb(cache, package)? {
        return Ok(found);
    }
    eprintln!(
        "xtask setup: downloading {package}.deb into {}",
        cache.display()
    );
    let download = || {
        let mut cmd = Command::new("apt-get");
        if is_root() {
            // Root downloads into a root-owned cache: apt's `_apt` sandbox user cannot write
            // there and apt says so on every file.
            cmd.args(["-o", "APT::Sandbox::User=root"]);
        }
        run::run(cmd.args(["download", "-q", package]).current_dir(cache))
    };
    if let Err(e) = download() {
        if !is_root() {
            return Err(e).with_context(|| {
                format!(
                    "`apt-get download {package}` failed: Ardour's VST3 scanner for the plugin \
                     tests comes from Debian packages; run `apt-get update` as root and retry"
                )
            });
        }
        run::run(
            Command::new("apt-get")
                .args(["update", "-q"])
                .env("DEBIAN_FRONTEND", "noninteractive"),
        )
        .context("apt-get update failed")?;
        download().with_context(|| {
            format!(
                "`apt-get download {package}` failed even after `apt-get update`: Ardour's VST3 \
                 scanner for the plugin tests comes from Debian's `{package}` package"
            )
        })?;
    }
    find_cached_deb(cache, package)?.with_context(|| {
        format!(
            "apt-get reported success but no {package}_*.deb is in {}",
            cache.display()
        )
    })
}

fn find_cached_deb(cache: &Path, package: &str) -> Result<Option<PathBuf>> {
    let Ok(entries) = fs::read_dir(cache) else {
        return Ok(None);
    };
    let prefix = format!("{package}_");
    let mut found: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().unwrap_or_default().to_string_lossy();
            name.starts_with(&prefix) && name.ends_with(".deb")
        })
        .collect();
    found.sort();
    Ok(found.pop())
}

// ---- system packages ------------------------------------------------------------------

/// Installs missing [`SYSTEM_PACKAGES`] as root on Debian; otherwise prints the command.
fn ensure_system_packages() -> Result<()> {
    if !Path::new("/usr/bin/dpkg-query").exists() {
        eprintln!(
            "xtask setup: not a Debian system, install the equivalents of: {}",
            SYSTEM_PACKAGES.join(" ")
        );
        return Ok(());
    }
    let missing = missing_packages()?;
    if missing.is_empty() {
        return Ok(());
    }
    let line = format!(
        "apt-get install -y --no-install-recommends {}",
        missing.join(" ")
    );
    if !is_root() {
        eprintln!("xtask setup: missing system packages; run as root:\n  {line}");
        return Ok(());
    }
    eprintln!("xtask setup: installing {}", missing.join(" "));
    run::run(
        Command::new("apt-get")
            .args(["update", "-q"])
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
    .context("apt-get update failed")?;
    run::run(
        Command::new("apt-get")
            .args(["install", "-y", "-q", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
    .with_context(|| format!("`{line}` failed"))
}

/// One `dpkg-query` for all packages (fast); unknown packages count as missing.
fn missing_packages() -> Result<Vec<&'static str>> {
    let out = Command::new("dpkg-query")
        .args(["-W", "-f", "${Package} ${db:Status-Status}\n"])
        .args(SYSTEM_PACKAGES)
        .stderr(std::process::Stdio::null())
        .output()
        .context("running dpkg-query")?;
    let listing = String::from_utf8_lossy(&out.stdout);
    let installed: Vec<&str> = listing
        .lines()
        .filter_map(|l| l.strip_suffix(" installed"))
        .map(|p| p.split(':').next().unwrap_or(p))
        .collect();
    Ok(SYSTEM_PACKAGES
        .iter()
        .copied()
        .filter(|p| !installed.contains(p))
        .collect())
}

fn is_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("xtask-test-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn finds_only_matching_wheels() {
        let dir = scratch("wheels");
        for name in [
            "torch-2.10.0-cp311-cp311-manylinux_2_28_x86_64.whl",
            "torch-2.11.0-cp311-cp311-manylinux_2_28_aarch64.whl",
            "onnxruntime_gpu-1.31.1-cp311-cp311-manylinux_2_28_x86_64.whl",
        ] {
            fs::write(dir.join(name), b"").unwrap();
        }
        assert_eq!(find_cached(&dir, &TORCH).unwrap(), None);
        assert_eq!(find_cached(&dir, &ONNXRUNTIME).unwrap(), None);
        let good = dir.join("torch-2.11.0-cp311-cp311-manylinux_2_28_x86_64.whl");
        fs::write(&good, b"").unwrap();
        assert_eq!(find_cached(&dir, &TORCH).unwrap(), Some(good));
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn stamp_changes_with_pins_and_gates_the_layout() {
        assert!(stamp_key().contains("torch==2.11.0"));
        assert!(stamp_key().contains("onnxruntime==1.31.1"));
        let deps = scratch("deps");
        assert!(!layout_is_current(&deps));
        write_atomic(&stamp_path(&deps), stamp_key().as_bytes()).unwrap();
        assert!(
            !layout_is_current(&deps),
            "a stamp without the files must not count"
        );
        fs::remove_dir_all(deps).unwrap();
    }

    #[test]
    fn atomic_write_leaves_no_partial_file() {
        let dir = scratch("atomic");
        let dest = dir.join("lib/libx.so");
        write_atomic_from(&dest, &mut &b"elf"[..], 0o755).unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"elf");
        let names: Vec<_> = fs::read_dir(dir.join("lib"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["libx.so"]);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn finds_only_the_named_deb() {
        let dir = scratch("debs");
        for name in [
            "ardour-data_1%3a7.3.0+ds0-1_all.deb",
            "libarchive13_3.6.2-1_amd64.deb.partial",
        ] {
            fs::write(dir.join(name), b"").unwrap();
        }
        assert_eq!(find_cached_deb(&dir, "ardour").unwrap(), None);
        assert_eq!(find_cached_deb(&dir, "libarchive13").unwrap(), None);
        let good = dir.join("ardour_1%3a7.3.0+ds0-1_amd64.deb");
        fs::write(&good, b"").unwrap();
        assert_eq!(find_cached_deb(&dir, "ardour").unwrap(), Some(good));
        assert_eq!(
            scanner_packages(),
            [
                "ardour",
                "libglibmm-2.4-1v5",
                "libsigc++-2.0-0v5",
                "libarchive13"
            ]
        );
        assert!(!vst3_scanner_is_current(&dir));
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn library_names() {
        assert!(is_library_name("torch/lib/libgomp.so.1"));
        assert!(is_library_name("torch/lib/libc10.so"));
        assert!(!is_library_name("torch/lib/libgomp.py"));
    }
}
