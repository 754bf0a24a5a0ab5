//! The entry point every sample job shares: reads stdin, passes the arguments from the manifest
//! to the job's kernel, writes its output to stdout. Exit codes: 1 the kernel refused its
//! input, 2 stdin could not be read, 3 stdout could not be written.

use std::io::{Read, Write};

/// A job's kernel: input bytes and arguments to output bytes, or a message for stderr.
pub type Kernel = fn(&[u8], &[String]) -> Result<Vec<u8>, String>;

/// Runs `kernel` as the process's job.
pub fn main(kernel: Kernel) {
    let mut input = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut input) {
        eprintln!("reading stdin: {e}");
        std::process::exit(2);
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    match kernel(&input, &args) {
        Ok(out) => {
            if std::io::stdout().write_all(&out).is_err() {
                std::process::exit(3);
            }
        }
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}
