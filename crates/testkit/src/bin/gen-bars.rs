//! Writes generated daily bars as CSV.
//!
//! `gen-bars --sample OUT` writes the bundled sample; `gen-bars TICKERS YEARS OUT`
//! writes TICKERS x YEARS of business days, grouped by ticker.

use std::process::ExitCode;

use nasdaq_testkit::{BarsSpec, generate_csv};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (spec, out) = match args.as_slice() {
        [flag, out] if flag == "--sample" => (BarsSpec::sample(), out),
        [tickers, years, out] => match (tickers.parse(), years.parse()) {
            (Ok(tickers), Ok(years)) => (BarsSpec::new(tickers, years), out),
            _ => return usage(),
        },
        _ => return usage(),
    };
    match std::fs::write(out, generate_csv(&spec)) {
        Ok(()) => {
            println!("wrote {} rows to {out}", spec.rows());
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("gen-bars: {out}: {err}");
            ExitCode::FAILURE
        }
    }
}

fn usage() -> ExitCode {
    eprintln!("usage: gen-bars --sample OUT | gen-bars TICKERS YEARS OUT");
    ExitCode::from(2)
}
