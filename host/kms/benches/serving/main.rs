//! Serving speed of `kms serve` against its floor and against OpenBao (issue 14), in one run and
//! with one client: requests/s and p50/p99 latency at 1 and 16 connections of
//!
//! - the floor: a minimal server on the same HTTP stack answering a constant (`floor`);
//! - `kms serve` on the default durable SQLite vault, signed 1 KiB Encrypts (`kms_serve`);
//! - OpenBao transit encrypt of 1 KiB, when `bao` is on PATH (`openbao`);
//!
//! then the ratios, each marked against the issue's goal, and the resident memory of
//! `kms serve` before and after. It prints figures and never asserts them.
//!
//! ```sh
//! cargo bench -p kms --bench serving               # 5 s per figure
//! cargo bench -p kms --bench serving -- --quick    # 1 s per figure
//! cargo bench -p kms --bench serving -- --soak     # 1,000,000 Encrypts: is memory flat?
//! KMS_TEST_POSTGRES=postgres://… cargo bench -p kms --bench serving -- --cluster
//!     # SQLite, one PostgreSQL node and two nodes on one database
//! ```

#[path = "../../tests/common/mod.rs"]
mod common;

mod client;
mod floor;
mod kms_serve;
mod openbao;
mod wrk;

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use client::{Client, HttpRequest, Load, RequestMaker, Until};
use floor::Floor;
use kms_serve::KmsServe;
use openbao::OpenBao;

/// The plaintext of every Encrypt.
const PLAINTEXT: [u8; 1024] = [0x5a; 1024];
const CONNECTIONS: [usize; 2] = [1, 16];
/// The cluster comparison adds 64: nodes that share one audit chain take turns at its tail, and
/// more connections in flight make each turn's batch larger.
const CLUSTER_CONNECTIONS: [usize; 3] = [1, 16, 64];

/// The goals of issue 14.
const GOAL_OF_FLOOR: f64 = 0.4;
const GOAL_OF_OPENBAO: f64 = 10.0;
const GOAL_P99_ONE_CONNECTION: Duration = Duration::from_millis(1);

/// How long each part of a run lasts.
struct Budgets {
    warm_up: Duration,
    figure: Duration,
    soak_requests: u64,
    soak_step: u64,
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str| args.iter().any(|a| a == name);
    if flag(floor::ARG) {
        return floor::serve();
    }
    let budgets = if flag("--quick") {
        Budgets {
            warm_up: Duration::from_millis(300),
            figure: Duration::from_secs(1),
            soak_requests: 50_000,
            soak_step: 10_000,
        }
    } else {
        Budgets {
            warm_up: Duration::from_secs(1),
            figure: Duration::from_secs(5),
            soak_requests: 1_000_000,
            soak_step: 200_000,
        }
    };
    let client = Client::new()?;
    if flag("--cluster") {
        return cluster(&client, &budgets);
    }
    let kms = KmsServe::start()?;
    if flag("--soak") {
        soak(&client, &kms, &budgets);
    } else {
        compare(&client, &kms, &budgets)?;
    }
    Ok(())
}

/// One measured server in the table.
struct Measured {
    server: String,
    loads: Vec<(usize, Load)>,
}

impl Measured {
    fn at(&self, connections: usize) -> &Load {
        &self
            .loads
            .iter()
            .find(|(c, _)| *c == connections)
            .expect("measured at every count of connections")
            .1
    }
}

/// Warms `addr` up, then measures it at each count of connections.
fn measure(
    client: &Client,
    server: &str,
    addr: SocketAddr,
    request: RequestMaker,
    budgets: &Budgets,
) -> Measured {
    measure_spread(client, server, &[(addr, request)], &CONNECTIONS, budgets)
}

/// [`measure`] with the connections dealt out in turn to several servers.
fn measure_spread(
    client: &Client,
    server: &str,
    targets: &[(SocketAddr, RequestMaker)],
    connection_counts: &[usize],
    budgets: &Budgets,
) -> Measured {
    let warm = client.run_spread(targets, 16, Until::Elapsed(budgets.warm_up));
    if let Some(error) = warm.first_error {
        println!(
            "  ({server} warm-up: {} errors, the first: {error})",
            warm.errors
        );
    }
    let loads = connection_counts
        .iter()
        .map(|&connections| {
            let load = client.run_spread(targets, connections, Until::Elapsed(budgets.figure));
            (connections, load)
        })
        .collect();
    Measured {
        server: server.to_string(),
        loads,
    }
}

fn compare(client: &Client, kms: &KmsServe, budgets: &Budgets) -> anyhow::Result<()> {
    println!(
        "Serving: 1 KiB encrypt, {} s per figure after {} s of warm-up; one client thread driving \
         N keep-alive connections on loopback; {} cores shared by client and servers",
        budgets.figure.as_secs_f64(),
        budgets.warm_up.as_secs_f64(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    print_load_average();
    let rss_at_start = Resident::show(kms.pid());
    let encrypt = kms.encrypt(&PLAINTEXT);
    let signed_encrypt: RequestMaker = Rc::new(move || encrypt.sign());

    let floor = Floor::start()?;
    // The floor gets the very bytes kms serve gets, signature and all.
    let floor_figures = measure(
        client,
        "floor: hyper answering a constant",
        floor.addr,
        Rc::clone(&signed_encrypt),
        budgets,
    );
    let kms_figures = measure(
        client,
        "kms serve, SQLite vault, signed",
        kms.addr(),
        Rc::clone(&signed_encrypt),
        budgets,
    );
    let requests_served = kms_figures
        .loads
        .iter()
        .map(|(_, l)| l.answered + l.errors)
        .sum::<u64>();
    let rss_at_end = Resident::show(kms.pid());

    let openbao = start_openbao();
    let openbao_figures = openbao.as_ref().ok().map(|openbao| {
        let request = openbao.encrypt_request(&PLAINTEXT);
        measure(
            client,
            &format!("{} transit encrypt (dev)", openbao.version),
            openbao.addr,
            Rc::new(move || request.clone()),
            budgets,
        )
    });

    let mut measured = vec![&floor_figures, &kms_figures];
    measured.extend(&openbao_figures);
    print_table(&measured);
    if let Err(skipped) = &openbao {
        println!("\nOpenBao: skipped, {skipped}");
    }
    print_ratios(&floor_figures, &kms_figures, openbao_figures.as_ref());
    println!("\nkms serve resident memory (VmRSS; -- --soak for a million requests):");
    println!("  before the run:              {rss_at_start}");
    println!(
        "  after {:>9} requests:    {rss_at_end}",
        thousands(requests_served as f64)
    );
    println!(
        "  vault file and its log:      {}",
        bytes(kms.vault_bytes())
    );

    let mut replayed = vec![
        ("floor", floor.addr, kms.encrypt(&PLAINTEXT).sign()),
        ("kms serve", kms.addr(), kms.encrypt(&PLAINTEXT).sign()),
    ];
    if let Ok(openbao) = &openbao {
        replayed.push(("OpenBao", openbao.addr, openbao.encrypt_request(&PLAINTEXT)));
    }
    compare_with_wrk(&replayed, budgets);
    Ok(())
}

/// `--cluster` (issue 16): signed Encrypts served from the SQLite default, from one node on a
/// PostgreSQL vault, and from two nodes sharing that vault with the connections dealt out
/// between them, as a load balancer would, all in one run.
fn cluster(client: &Client, budgets: &Budgets) -> anyhow::Result<()> {
    let Some(server) = std::env::var("KMS_TEST_POSTGRES")
        .ok()
        .filter(|url| !url.is_empty())
    else {
        println!(
            "--cluster needs a PostgreSQL server: set KMS_TEST_POSTGRES=postgres://USER@HOST:PORT/DB \
             (the benchmark keeps its vault in a scratch schema there)"
        );
        return Ok(());
    };
    let scratch = kms_vault::postgres_testing::ScratchSchema::create(&server)?;
    println!(
        "Cluster: 1 KiB encrypt, {} s per figure after {} s of warm-up; one client thread; {} \
         cores shared by the client, the nodes and PostgreSQL (synchronous_commit as the server \
         has it: {})",
        budgets.figure.as_secs_f64(),
        budgets.warm_up.as_secs_f64(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        synchronous_commit(&server)
    );
    print_load_average();
    let signed = |kms: &KmsServe| -> (SocketAddr, RequestMaker) {
        let encrypt = kms.encrypt(&PLAINTEXT);
        (kms.addr(), Rc::new(move || encrypt.sign()))
    };
    let sqlite = KmsServe::start()?;
    let sqlite_figures = measure_spread(
        client,
        "kms serve, SQLite vault",
        &[signed(&sqlite)],
        &CLUSTER_CONNECTIONS,
        budgets,
    );
    drop(sqlite);
    let first = KmsServe::start_on(Some(scratch.url()))?;
    let one = measure_spread(
        client,
        "kms serve, PostgreSQL, 1 node",
        &[signed(&first)],
        &CLUSTER_CONNECTIONS,
        budgets,
    );
    let second = first.another_node()?;
    let two = measure_spread(
        client,
        "kms serve, PostgreSQL, 2 nodes",
        &[signed(&first), signed(&second)],
        &CLUSTER_CONNECTIONS,
        budgets,
    );
    print_table(&[&sqlite_figures, &one, &two]);
    println!("\nRatios at 16 and 64 connections:");
    for (what, of, to) in [
        ("PostgreSQL 1 node / SQLite", &one, &sqlite_figures),
        ("PostgreSQL 2 nodes / 1 node", &two, &one),
        ("PostgreSQL 2 nodes / SQLite", &two, &sqlite_figures),
    ] {
        println!(
            "  {what:<30} {:>7.3}x {:>7.3}x",
            of.at(16).per_second() / to.at(16).per_second(),
            of.at(64).per_second() / to.at(64).per_second()
        );
    }
    Ok(())
}

/// The server's `synchronous_commit`, which decides what a commit waits for.
fn synchronous_commit(server: &str) -> String {
    postgres::Client::connect(server, postgres::NoTls)
        .and_then(|mut c| c.query_one("SHOW synchronous_commit", &[]))
        .map(|row| row.get::<_, String>(0))
        .unwrap_or_else(|e| format!("unknown ({e})"))
}

/// OpenBao ready for transit encrypt, or why not.
fn start_openbao() -> Result<OpenBao, String> {
    let bao =
        openbao::find().ok_or_else(|| format!("`bao` is not on PATH; {}", openbao::HOW_TO_GET))?;
    OpenBao::start(&bao).map_err(|e| format!("`bao server -dev` failed: {e}"))
}

/// Each ratio the issue sets a goal for, marked met or missed.
fn print_ratios(floor: &Measured, kms: &Measured, openbao: Option<&Measured>) {
    let kms16 = kms.at(16).per_second();
    println!("\nRatios (goals of issue 14):");
    let of_floor = kms16 / floor.at(16).per_second();
    println!(
        "  kms serve / floor, 16 connections:   {of_floor:>7.3}x  (goal >= {GOAL_OF_FLOOR}x: {})",
        verdict(of_floor >= GOAL_OF_FLOOR)
    );
    println!(
        "  kms serve / floor, 1 connection:     {:>7.3}x",
        kms.at(1).per_second() / floor.at(1).per_second()
    );
    match openbao {
        Some(openbao) => {
            let of_openbao = kms16 / openbao.at(16).per_second();
            println!(
                "  kms serve / OpenBao, 16 connections: {of_openbao:>7.3}x  (goal >= {GOAL_OF_OPENBAO}x: {})",
                verdict(of_openbao >= GOAL_OF_OPENBAO)
            );
        }
        None => println!("  kms serve / OpenBao, 16 connections: -  (OpenBao skipped)"),
    }
    let p99 = kms.at(1).percentile(0.99);
    println!(
        "  kms serve p99, 1 connection:         {:>8}  (goal <= 1 ms: {})",
        latency(p99),
        verdict(p99 <= GOAL_P99_ONE_CONNECTION)
    );
}

/// wrk's figures at 16 connections for the same requests, when wrk is on PATH.
fn compare_with_wrk(replayed: &[(&str, SocketAddr, HttpRequest)], budgets: &Budgets) {
    if !wrk::on_path() {
        println!("\n(wrk is not on PATH: no comparison with wrk's client)");
        return;
    }
    println!(
        "\nwrk -t1, 16 connections, the same signed request replayed (this client's figures above):"
    );
    for (name, addr, request) in replayed {
        match wrk::run(*addr, request, 16, budgets.figure) {
            Ok(figure) => println!(
                "  {name:<10} {:>9} requests/s  p50 {:>9}  p99 {:>9}{}",
                thousands(figure.per_second),
                figure.p50,
                figure.p99,
                if figure.non_2xx > 0 {
                    format!("  ({} answers not 2xx)", figure.non_2xx)
                } else {
                    String::new()
                }
            ),
            Err(e) => println!("  {name}: wrk failed: {e}"),
        }
    }
}

/// Sends 1,000,000 Encrypts at 16 connections and prints the resident memory of `kms serve`
/// at the start, after every 200,000 and at the end.
fn soak(client: &Client, kms: &KmsServe, budgets: &Budgets) {
    println!(
        "Soak: {} signed 1 KiB Encrypts at 16 connections; kms serve's resident memory \
         (VmRSS: anonymous + file-backed + shared)\n",
        thousands(budgets.soak_requests as f64)
    );
    let encrypt = kms.encrypt(&PLAINTEXT);
    let signed_encrypt: RequestMaker = Rc::new(move || encrypt.sign());
    println!("RSS at start: {}", Resident::show(kms.pid()));
    let mut sent = 0;
    let mut after_first_step = None;
    let mut errors = 0;
    while sent < budgets.soak_requests {
        let step = budgets.soak_step.min(budgets.soak_requests - sent);
        let load = client.run(
            kms.addr(),
            16,
            Until::Requests(step),
            Rc::clone(&signed_encrypt),
        );
        sent += step;
        errors += load.errors;
        after_first_step.get_or_insert(Resident::of(kms.pid()));
        println!(
            "RSS after {:>9} requests: {}  ({} requests/s, p50 {}, p99 {}{})",
            thousands(sent as f64),
            Resident::show(kms.pid()),
            thousands(load.per_second()),
            latency(load.percentile(0.50)),
            latency(load.percentile(0.99)),
            match &load.first_error {
                Some(e) => format!(", {} errors, the first: {e}", load.errors),
                None => String::new(),
            }
        );
    }
    let at_end = Resident::of(kms.pid());
    println!("RSS at end: {}", Resident::show(kms.pid()));
    println!(
        "{} errors; vault file and its log {}",
        errors,
        bytes(kms.vault_bytes())
    );
    // What the first step grew (caches filling, allocator arenas, SQLite's page cache) is
    // warming up; flat means little growth after it. Both totals are shown: file-backed and
    // shared pages (SQLite's write-ahead-log index is a shared mapping) are not the heap.
    let (Some(Some(settled)), Some(end)) = (after_first_step, at_end) else {
        return;
    };
    let growth = |from: u64, to: u64| to as f64 / from.max(1) as f64 - 1.0;
    let total = growth(settled.total_kib, end.total_kib);
    let anonymous = growth(settled.anonymous_kib, end.anonymous_kib);
    println!(
        "Growth after the first {} requests: VmRSS {:+.1}%, anonymous {:+.1}%  \
         (goal: flat, taken as VmRSS within 10%: {})",
        thousands(budgets.soak_step as f64),
        total * 100.0,
        anonymous * 100.0,
        verdict(total <= 0.10),
    );
}

/// Other work on the machine skews every figure; say how busy it was.
fn print_load_average() {
    if let Ok(loadavg) = std::fs::read_to_string("/proc/loadavg") {
        let last_minute = loadavg.split_whitespace().next().unwrap_or("?");
        println!("Load average of the last minute before the run: {last_minute}\n");
    }
}

fn print_table(measured: &[&Measured]) {
    println!(
        "{:<40} {:>5} {:>12} {:>10} {:>10} {:>7}",
        "server", "conns", "requests/s", "p50", "p99", "errors"
    );
    for m in measured {
        for (connections, load) in &m.loads {
            println!(
                "{:<40} {:>5} {:>12} {:>10} {:>10} {:>7}",
                m.server,
                connections,
                thousands(load.per_second()),
                latency(load.percentile(0.50)),
                latency(load.percentile(0.99)),
                load.errors
            );
        }
    }
    for m in measured {
        for (connections, load) in &m.loads {
            if let Some(error) = &load.first_error {
                println!("  {} at {connections}: the first error: {error}", m.server);
            }
        }
    }
}

/// What a process holds in memory, from /proc/<pid>/status (Linux), in KiB.
#[derive(Clone, Copy)]
struct Resident {
    total_kib: u64,
    anonymous_kib: u64,
    file_kib: u64,
    shared_kib: u64,
}

impl Resident {
    fn of(pid: u32) -> Option<Resident> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))?
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .ok()
        };
        Some(Resident {
            total_kib: field("VmRSS:")?,
            anonymous_kib: field("RssAnon:")?,
            file_kib: field("RssFile:")?,
            shared_kib: field("RssShmem:")?,
        })
    }

    fn show(pid: u32) -> String {
        let mib = |kib: u64| kib as f64 / 1024.0;
        match Resident::of(pid) {
            Some(r) => format!(
                "{:.1} MiB (anonymous {:.1}, file {:.1}, shared {:.1})",
                mib(r.total_kib),
                mib(r.anonymous_kib),
                mib(r.file_kib),
                mib(r.shared_kib)
            ),
            None => "unknown (no /proc)".into(),
        }
    }
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "missed" }
}

fn bytes(n: u64) -> String {
    format!("{:.1} MiB", n as f64 / (1 << 20) as f64)
}

fn latency(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 1000.0 {
        format!("{us:.0} µs")
    } else {
        format!("{:.2} ms", us / 1000.0)
    }
}

/// `12345.6` as `12 346`, as the README writes figures.
fn thousands(x: f64) -> String {
    let digits = format!("{:.0}", x);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(' ');
        }
        out.push(c);
    }
    out
}
