//! `edgectl`: the command line for a Flotilla cluster. Parses flags and runs one command;
//! errors are one line on stderr and exit status 1.
use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = match flotilla::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) if !error.use_stderr() => {
            // --help and --version: print them as clap does.
            let _ = error.print();
            return std::process::ExitCode::SUCCESS;
        }
        Err(error) => {
            // One line, `error: …`, status 1, like every other edgectl error.
            let text = error.render().to_string();
            eprintln!(
                "{}",
                text.lines().next().unwrap_or("error: invalid arguments")
            );
            return std::process::ExitCode::FAILURE;
        }
    };
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
            match error.downcast_ref::<flotilla::cli::Exit>() {
                Some(flotilla::cli::Exit(code)) => std::process::ExitCode::from(*code),
                None => std::process::ExitCode::FAILURE,
            }
        }
    }
}
