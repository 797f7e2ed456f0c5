//! The subcommands of `recut-trainer` that have more to them than a call into the
//! library: their flags, defaults and what they print. `main.rs` parses the command line
//! and runs `info`, `reward` and `export` itself; the rest is here.

pub mod feedback;
pub mod policy;
pub mod ppo;
