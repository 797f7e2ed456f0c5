//! Recut.vst3 through Ardour's VST3 scanner, the separate process Ardour runs on every VST3
//! bundle before it will load it: the scanner loads the module, reads the factory and the
//! class, instantiates the component to count its buses, and writes a `.v3i` cache file
//! (XML) that Ardour's plugin list is built from.
//!
//! Needs `target/bundled/Recut.vst3` (`cargo xtask bundle recut-plugin --release`) and the
//! scanner in `.deps/ardour/` (`cargo xtask setup`); `cargo xtask test` provides both, so a
//! missing one fails the test rather than skipping it.
//!
//! The scanner exits 0 even when a bundle fails to load (it only logs `[ERROR]`), so the
//! test checks its "Found Plugin" line and the cache file, and scans a broken bundle as a
//! control that those checks can fail.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `Recut::VST3_CLASS_ID` (`b"RecutEditsSongs1"`) as the scanner writes it.
const CLASS_UID: &str = "52656375744564697473536F6E677331";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_owned()
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || root().join("target"),
        |dir| root().join(PathBuf::from(dir)),
    )
}

fn scanner_dir() -> PathBuf {
    root().join(".deps").join("ardour")
}

/// Runs the scanner on `bundle` with a private HOME, so its cache lands in `home`.
fn scan(bundle: &Path, home: &Path) -> Output {
    let scanner = scanner_dir().join("ardour-vst3-scanner");
    assert!(
        scanner.is_file(),
        "Ardour's VST3 scanner is missing at {}: run `cargo xtask setup` (or `cargo xtask test`)",
        scanner.display()
    );
    Command::new(&scanner)
        .args(["--force", "--verbose"])
        .arg(bundle)
        .env("LD_LIBRARY_PATH", scanner_dir().join("lib"))
        .env("HOME", home)
        .env("XDG_CACHE_HOME", home.join(".cache"))
        .output()
        .unwrap_or_else(|e| panic!("could not run {}: {e}", scanner.display()))
}

/// Every `.v3i` file the scanner wrote under `home`.
fn cache_files(home: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "v3i") {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(home, &mut out);
    out
}

/// The value of `attr="…"` in the first element that has it.
fn attr<'a>(xml: &'a str, attr: &str) -> Option<&'a str> {
    let key = format!(" {attr}=\"");
    let start = xml.find(&key)? + key.len();
    let len = xml[start..].find('"')?;
    Some(&xml[start..start + len])
}

#[test]
fn ardour_vst3_scanner_finds_recut() {
    let bundle = target_dir().join("bundled").join("Recut.vst3");
    assert!(
        bundle.is_dir(),
        "{} is missing: run `cargo xtask bundle recut-plugin --release` (or `cargo xtask test`)",
        bundle.display()
    );
    let home = tempfile::tempdir().unwrap();
    let out = scan(&bundle, home.path());
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "scanner failed ({}):\n{log}",
        out.status
    );
    assert!(
        !log.contains("[ERROR]"),
        "scanner reported an error:\n{log}"
    );
    assert!(
        log.contains("Found Plugin: Recut"),
        "scanner did not find Recut:\n{log}"
    );

    let files = cache_files(home.path());
    assert_eq!(files.len(), 1, "expected one .v3i cache file:\n{log}");
    let xml = fs::read_to_string(&files[0]).unwrap();
    assert!(xml.contains("<VST3Cache"), "not a VST3 cache file:\n{xml}");
    let info = &xml[xml.find("<VST3Info").expect("a VST3Info element")..];
    assert_eq!(attr(info, "uid"), Some(CLASS_UID), "{xml}");
    assert_eq!(attr(info, "name"), Some("Recut"), "{xml}");
    assert_eq!(attr(info, "vendor"), Some("Recut"), "{xml}");
    assert_eq!(
        attr(info, "version"),
        Some(env!("CARGO_PKG_VERSION")),
        "{xml}"
    );
    assert_eq!(attr(info, "category"), Some("Fx|Tools"), "{xml}");
    // Stereo in, stereo out, no sidechain and no MIDI: what the bus layout says.
    for (name, value) in [
        ("n_inputs", "2"),
        ("n_outputs", "2"),
        ("n_aux_inputs", "0"),
        ("n_aux_outputs", "0"),
        ("n_midi_inputs", "0"),
        ("n_midi_outputs", "0"),
    ] {
        assert_eq!(attr(info, name), Some(value), "{name} in\n{xml}");
    }
    let module = attr(&xml, "module").expect("a module attribute");
    assert!(
        module.ends_with("Recut.vst3/Contents/x86_64-linux/Recut.so"),
        "module {module}"
    );

    // Control: a bundle whose module is not a library. Same exit status, but no
    // "Found Plugin" line and no cache file, so the checks above can fail.
    let scratch = tempfile::tempdir().unwrap();
    let bogus = scratch.path().join("Bogus.vst3");
    let so_dir = bogus.join("Contents").join("x86_64-linux");
    fs::create_dir_all(&so_dir).unwrap();
    fs::write(so_dir.join("Bogus.so"), b"not an ELF file").unwrap();
    let home = tempfile::tempdir().unwrap();
    let out = scan(&bogus, home.path());
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(!log.contains("Found Plugin"), "{log}");
    assert!(cache_files(home.path()).is_empty());
}
