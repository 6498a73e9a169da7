//! A container runtime, written one stage at a time.
//!
//! Called as: your_program.sh run IMAGE COMMAND [ARG...]

use std::env;
use std::process::ExitCode;

const USAGE: &str = "usage: your_program.sh run IMAGE COMMAND [ARG...]";

fn main() -> ExitCode {
    let args: Vec<String> = env::args().collect();
    if args.len() < 4 || args[1] != "run" {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    }
    let image = &args[2];
    let command = &args[3];
    let arguments = &args[4..];

    // Stage 1: run `command` with `arguments` and wait for it to finish
    // (std::process::Command). Print your own messages to stderr: stdout
    // belongs to the command.
    eprintln!(
        "your_program: TODO: run {command:?} with {} argument(s) (image {image:?}). \
         Write stage 1 in src/main.rs; read its instructions with \
         `pytest-stages instructions 1`.",
        arguments.len()
    );
    ExitCode::from(1)
}
