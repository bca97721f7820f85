//! The `clawhost` command; everything it does lives in the library (`clawhost::cli`).

fn main() -> std::process::ExitCode {
    clawhost::cli::main()
}
