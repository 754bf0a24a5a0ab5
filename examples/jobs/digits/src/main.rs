//! `digits` as a job: stdin in, stdout out, arguments from the manifest.

fn main() {
    job_io::main(digits::run);
}
