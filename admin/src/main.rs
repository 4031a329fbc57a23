//! The portcullis-admin binary: parse the command line, read the
//! credentials, run one command, print its answer, exit 0 (done), 1 (not
//! found, refused, unreachable) or 2 (usage or configuration error).

use clap::Parser;
use portcullis_admin::{AdminError, Cli, FAILED, Target, USAGE};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Files are read here, before the runtime starts: nothing blocks it.
    let target = match Target::from_args(&cli.connection, &|name| std::env::var(name).ok()) {
        Ok(target) => target,
        Err(e) => return fail(&e),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("portcullis-admin: cannot start the async runtime: {e}");
            return ExitCode::from(USAGE);
        }
    };
    match runtime.block_on(portcullis_admin::run(&cli, &target)) {
        Ok(outcome) => {
            print!("{}", outcome.stdout);
            if let Some(note) = outcome.note {
                eprintln!("{note}");
            }
            match outcome.not_found {
                Some(message) => {
                    eprintln!("portcullis-admin: {message}");
                    ExitCode::from(FAILED)
                }
                None => ExitCode::SUCCESS,
            }
        }
        Err(e) => fail(&e),
    }
}

fn fail(e: &AdminError) -> ExitCode {
    eprintln!("portcullis-admin: {e}");
    ExitCode::from(e.exit_code())
}
