//! `compute-worker`: the provider daemon of the compute market.

fn main() {
    std::process::exit(compute_worker::cli::main_with_args(std::env::args_os()));
}
