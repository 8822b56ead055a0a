//! The Talos API client against the Talos API simulator
//! (`labforge_simulators::talos::TalosSim`, its own protos and code: the
//! tests share nothing with the client), and against sockets that never
//! answer.

#![allow(clippy::unwrap_used)]

mod known_fields;
mod sim;

use std::time::{Duration, Instant};

use labforge_talos::client::{Auth, Client, ErrorKind, Target};
use tokio::net::TcpListener;

fn client() -> Client {
    Client::new()
        .with_connect_timeout(Duration::from_secs(5))
        .with_request_timeout(Duration::from_secs(10))
}

#[tokio::test]
async fn a_wrong_endpoint_fails_fast_and_clearly() {
    // A port nothing listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let started = Instant::now();
    let e = client()
        .version(
            &Target::endpoint(format!("127.0.0.1:{port}")),
            Auth::Insecure,
        )
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(e.kind(), ErrorKind::Unreachable);
    assert!(e.is_retryable());
    assert_eq!(
        e.to_string(),
        format!("cannot reach the Talos API at 127.0.0.1:{port}: connection refused")
    );

    let e = client()
        .version(&Target::endpoint("https://127.0.0.1"), Auth::Insecure)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);

    // A listener that accepts TCP but never speaks TLS: the connect timeout applies.
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    let _hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            held.push(s);
        }
    });
    let started = Instant::now();
    let e = Client::new()
        .with_connect_timeout(Duration::from_millis(300))
        .version(&Target::endpoint(addr.to_string()), Auth::Insecure)
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(e.is_retryable(), "{e}");
    assert!(e.to_string().contains("did not finish within"), "{e}");
}
