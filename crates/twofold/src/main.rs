//! The `twofold` binary: parse the command line, run it, report errors plainly.

use std::process::ExitCode;

fn main() -> ExitCode {
    twofold::cli::main()
}
