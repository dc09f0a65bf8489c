//! The `pail` command. Thin: parse, dispatch, map outcomes to exit codes.

mod cli;
mod commands;

use std::process::ExitCode;

use clap::Parser;

/// Many small allocations per request (the SDK's, hyper's, SQLite's): mimalloc spends less CPU
/// on them than glibc's malloc and keeps less memory (bench/README.md, "Allocator").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    quiet_on_broken_pipe();
    let cli = cli::Cli::parse();
    commands::init_logging(cli.verbose, cli.quiet);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("pail: cannot start: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            // Error chains can carry keys and server answers: escape what a terminal would run.
            eprintln!("pail: {}", pail_core::printable(&format!("{e:#}")));
            ExitCode::from(1)
        }
    }
}

/// `pail status --json | grep -q idle`: a reader that stops early closes the pipe, and the
/// next `println!` panics. The output was not wanted any more; that is no failure of pail's, so
/// it exits quietly with 0. Whether stdout is a closed pipe is asked of stdout itself (one
/// more write, which fails with `BrokenPipe`), not read from the panic's message; any other
/// panic goes to the default hook. (Restoring the default SIGPIPE action instead would need
/// unsafe code and would apply to every descriptor.)
fn quiet_on_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let closed = matches!(
            out.write_all(b"\n").and_then(|()| out.flush()),
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe
        );
        if closed {
            std::process::exit(0);
        }
        default(info)
    }));
}
