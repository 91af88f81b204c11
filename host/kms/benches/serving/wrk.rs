//! The same figures from `wrk` (one thread, N connections), when it is on PATH, so that a reader
//! can see how this benchmark's client compares with a well-known one. wrk replays one request
//! (signed once: a run is far shorter than SigV4's clock-skew window).

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use crate::client::HttpRequest;

/// What wrk measured.
pub struct WrkFigure {
    pub per_second: f64,
    /// As wrk prints them (`152.00us`).
    pub p50: String,
    pub p99: String,
    pub non_2xx: u64,
}

pub fn on_path() -> bool {
    Command::new("wrk")
        .arg("--version")
        .output()
        .is_ok_and(|o| !o.stdout.is_empty() || !o.stderr.is_empty())
}

/// Runs `wrk -t1 -c<connections>` for `duration` with `request`.
pub fn run(
    addr: SocketAddr,
    request: &HttpRequest,
    connections: usize,
    duration: Duration,
) -> anyhow::Result<WrkFigure> {
    let dir = tempfile::tempdir()?;
    let script = dir.path().join("request.lua");
    std::fs::write(&script, lua_script(request))?;
    let out = Command::new("wrk")
        .args([
            "-t1",
            &format!("-c{connections}"),
            &format!("-d{}s", duration.as_secs().max(1)),
            "--latency",
            "-s",
        ])
        .arg(&script)
        .arg(format!("http://{addr}{}", request.path))
        .output()?;
    let printed = String::from_utf8_lossy(&out.stdout);
    anyhow::ensure!(
        out.status.success(),
        "wrk failed: {printed}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let field = |prefix: &str| {
        printed
            .lines()
            .find_map(|l| l.trim().strip_prefix(prefix).map(|v| v.trim().to_string()))
    };
    Ok(WrkFigure {
        per_second: field("Requests/sec:")
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| anyhow::anyhow!("wrk printed no Requests/sec: {printed}"))?,
        p50: field("50%").unwrap_or_default(),
        p99: field("99%").unwrap_or_default(),
        non_2xx: field("Non-2xx or 3xx responses:")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
    })
}

/// A wrk script replaying `request`. wrk sets Host and Content-Length itself, so the request's
/// own are left out (a second Host would be refused).
fn lua_script(request: &HttpRequest) -> String {
    let mut script = format!(
        "wrk.method = \"{}\"\nwrk.body = [==[{}]==]\n",
        request.method,
        String::from_utf8_lossy(&request.body)
    );
    for (name, value) in &request.headers {
        if name.eq_ignore_ascii_case("host") || name.eq_ignore_ascii_case("content-length") {
            continue;
        }
        script.push_str(&format!("wrk.headers[\"{name}\"] = [==[{value}]==]\n"));
    }
    script
}
