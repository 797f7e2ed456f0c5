//! Helpers shared by several test binaries (a folder, so cargo does not build it as a test).

pub mod clap_host;
