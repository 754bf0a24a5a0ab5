//! `monte-carlo` as a job: stdin in, stdout out, arguments from the manifest.

fn main() {
    job_io::main(monte_carlo::run);
}
