//! `make bench`: msgpack and state-JSON codec speed, as ratios against
//! serde_json handling the same data in the same run (the baseline), so the
//! numbers mean something on any machine.

#![allow(clippy::print_stdout, clippy::expect_used)] // A benchmark reports on stdout.

use std::hint::black_box;
use std::time::{Duration, Instant};

use labforge_cty::{Type, Value, json, msgpack};

fn record_type() -> Type {
    Type::object([
        ("zone", Type::String),
        ("name", Type::String),
        ("type", Type::String),
        ("value", Type::String),
        ("ttl", Type::Number),
        ("disabled", Type::Bool),
        ("tags", Type::set(Type::String)),
    ])
}

fn records(n: usize) -> (Value, serde_json::Value) {
    let mut vs = Vec::new();
    let mut js = Vec::new();
    for i in 0..n {
        let name = format!("host{i}");
        let value = format!("10.0.{}.{}", i / 250, i % 250);
        vs.push(Value::object([
            ("zone", Value::string("lab.home.arpa")),
            ("name", Value::string(name.clone())),
            ("type", Value::string("A")),
            ("value", Value::string(value.clone())),
            ("ttl", Value::from_i64(3600)),
            ("disabled", Value::Bool(false)),
            (
                "tags",
                Value::Set(vec![Value::string("lab"), Value::string("k8s")]),
            ),
        ]));
        js.push(serde_json::json!({
            "zone": "lab.home.arpa", "name": name, "type": "A", "value": value,
            "ttl": 3600, "disabled": false, "tags": ["lab", "k8s"],
        }));
    }
    (Value::List(vs), serde_json::Value::Array(js))
}

fn time(mut f: impl FnMut()) -> Duration {
    // Warm up, then take the best of several rounds.
    f();
    (0..7)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .unwrap_or_default()
}

fn main() {
    let ty = Type::list(record_type());
    let (value, baseline) = records(5_000);
    let packed = msgpack::encode(&value, &ty).expect("encode");
    let state = json::encode(&value, &ty).expect("encode json");
    let base_text = serde_json::to_vec(&baseline).expect("baseline");

    let base_ser = time(|| {
        black_box(serde_json::to_vec(black_box(&baseline)).ok());
    });
    let base_de = time(|| {
        black_box(serde_json::from_slice::<serde_json::Value>(black_box(&base_text)).ok());
    });
    let mp_enc = time(|| {
        black_box(msgpack::encode(black_box(&value), &ty).ok());
    });
    let mp_dec = time(|| {
        black_box(msgpack::decode(black_box(&packed), &ty).ok());
    });
    let js_enc = time(|| {
        black_box(json::encode(black_box(&value), &ty).ok());
    });
    let js_dec = time(|| {
        black_box(json::decode(black_box(&state), &ty).ok());
    });

    let ratio = |d: Duration, b: Duration| d.as_secs_f64() / b.as_secs_f64().max(1e-9);
    println!(
        "cty codec, 5000 DNS-record objects ({} bytes msgpack, {} bytes JSON)",
        packed.len(),
        state.len()
    );
    println!("baseline serde_json::Value: encode {base_ser:?}, decode {base_de:?}");
    println!(
        "msgpack encode  {mp_enc:?}  = {:.2}x baseline encode",
        ratio(mp_enc, base_ser)
    );
    println!(
        "msgpack decode  {mp_dec:?}  = {:.2}x baseline decode",
        ratio(mp_dec, base_de)
    );
    println!(
        "state JSON enc  {js_enc:?}  = {:.2}x baseline encode",
        ratio(js_enc, base_ser)
    );
    println!(
        "state JSON dec  {js_dec:?}  = {:.2}x baseline decode",
        ratio(js_dec, base_de)
    );
}
