//! `edgectl`: the command line for a Flotilla cluster. Parses flags and runs one command;
//! errors are one line on stderr and exit status 1.
use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = flotilla::cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(flotilla::cli::run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            if let Some(line) = flotilla::cli::error_line(&error) {
                eprintln!("{line}");
            }
            std::process::ExitCode::FAILURE
        }
    }
}
