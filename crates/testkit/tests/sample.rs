//! The bundled sample is exactly what the generator makes of the sample spec.

use nasdaq_testkit::{BarsSpec, generate_csv};

#[test]
fn bundled_sample_is_generated() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/sample/NASDAQ.csv");
    let bundled = std::fs::read(path).expect("the bundled sample exists");
    assert!(
        bundled == generate_csv(&BarsSpec::sample()),
        "data/sample/NASDAQ.csv differs from the generator's output; regenerate it with \
         `cargo run -p nasdaq-testkit --bin gen-bars -- --sample data/sample/NASDAQ.csv`"
    );
}
