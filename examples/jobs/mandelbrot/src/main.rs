//! `mandelbrot` as a job: stdin in, stdout out, arguments from the manifest.

use std::io::{Read, Write};

fn main() {
    let mut input = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut input) {
        eprintln!("reading stdin: {e}");
        std::process::exit(2);
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    match mandelbrot::run(&input, &args) {
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
