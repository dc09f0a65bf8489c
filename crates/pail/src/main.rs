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
    no_huge_pages();
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

/// Without transparent huge pages. A big upload reads its parts into fresh buffers (16 of
/// 8 MiB). In huge pages, the kernel zeroes each 2 MiB page whole at its first touch, and on a
/// VM that hands free memory back to its host (virtio page reporting: Firecracker, many
/// clouds) that took 0.3 s of CPU in a 1 GiB upload, a tenth of its time, against 0.05 s in
/// 4 KiB pages (bench/README.md, "Huge pages"). pail goes through its buffers once, in order:
/// huge pages save it no TLB misses worth that. Failure (an old kernel) changes nothing else.
fn no_huge_pages() {
    #[cfg(target_os = "linux")]
    let _ = rustix::thread::disable_transparent_huge_pages(true);
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
