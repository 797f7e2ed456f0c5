//! Running child processes with their output streamed and failures named.

use anyhow::{Context, Result, bail};
use std::path::Path;
use std::process::Command;

/// Runs `cmd` with inherited stdio; a non-zero exit is an error naming the command.
pub fn run(cmd: &mut Command) -> Result<()> {
    let shown = describe(cmd);
    eprintln!("xtask: $ {shown}");
    let status = cmd
        .status()
        .with_context(|| format!("could not start `{shown}`"))?;
    if !status.success() {
        bail!("`{shown}` failed ({status})");
    }
    Ok(())
}

/// Runs `cmd` and returns its stdout (stderr still streams), failing like [`run`].
pub fn output(cmd: &mut Command) -> Result<String> {
    let shown = describe(cmd);
    eprintln!("xtask: $ {shown}");
    let out = cmd
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("could not start `{shown}`"))?;
    if !out.status.success() {
        bail!("`{shown}` failed ({})", out.status);
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `cargo` as the one that runs xtask (`$CARGO`), so toolchain overrides carry over.
pub fn cargo() -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(crate::paths::repo_root());
    cmd
}

/// A shell script from `shared/`, with a clear error when the checkout has no `shared/` beside it.
pub fn script(path: &Path) -> Result<Command> {
    if !path.exists() {
        bail!(
            "{} not found: Recut expects the shared/ folder beside the checkout",
            path.display()
        );
    }
    Ok(Command::new(path))
}

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        s.push(' ');
        s.push_str(&arg.to_string_lossy());
    }
    s
}
