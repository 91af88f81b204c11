//! Hostile clients against the HTTP layer of `kms serve`, in process with short timeouts: slow
//! headers and bodies, oversized heads, thousands of idle connections, garbage, truncated and
//! silent TLS, and bytes that are not UTF-8 in every part of a request. For each, the server
//! answers with an error or closes the connection, never panics, and serves a well-behaved
//! client (a signed Encrypt and Decrypt) while the hostile one is at it.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::certs::TestCertificates;
use common::{
    Ending, TestServer, assert_no_server_panicked, ending, open_files_limit, read_response,
    write_request,
};

const SHORT: Duration = Duration::from_millis(500);

/// Sends `bytes` on a fresh connection, checks that a well-behaved client is served meanwhile,
/// and returns how the server left the hostile connection.
fn send_hostile(server: &TestServer, bytes: &[u8]) -> Ending {
    let mut hostile = server.connect();
    // The server may close before reading everything; a failed write is part of the answer.
    let _ = hostile.write_all(bytes);
    server.assert_serves_a_well_behaved_client();
    ending(&mut hostile, Duration::from_secs(3))
}

fn assert_answered_4xx_or_closed(ending: Ending, what: &str) {
    assert!(
        matches!(ending, Ending::Closed | Ending::Answered(400..=499)),
        "{what}: {ending:?}"
    );
}

/// A signed request's head with one header replaced by raw bytes.
fn signed_head_with(server: &TestServer, body: &[u8], name: &str, raw_value: &[u8]) -> Vec<u8> {
    let mut head = format!("POST / HTTP/1.1\r\nContent-Length: {}\r\n", body.len()).into_bytes();
    for (k, v) in server.signed_headers("ListKeys", body) {
        if !k.eq_ignore_ascii_case(name) {
            head.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
        }
    }
    head.extend_from_slice(name.as_bytes());
    head.extend_from_slice(b": ");
    head.extend_from_slice(raw_value);
    head.extend_from_slice(b"\r\n\r\n");
    head.extend_from_slice(body);
    head
}

#[test]
fn headers_sent_a_byte_at_a_time_are_cut_off_at_the_header_timeout() {
    let server = TestServer::start(|c| c.header_timeout = SHORT);
    let mut slow = server.connect();
    slow.write_all(b"POST / HTTP/1.1\r\nX-Drip: ").unwrap();
    let started = Instant::now();
    let mut cut_off = None;
    let mut others_served = false;
    // A byte every 50 ms would keep a per-read timeout happy forever.
    while started.elapsed() < Duration::from_secs(5) {
        if slow.write_all(b"a").is_err() {
            cut_off = Some(started.elapsed());
            break;
        }
        if !others_served && started.elapsed() > Duration::from_millis(200) {
            server.assert_serves_a_well_behaved_client();
            others_served = true;
        }
        std::thread::sleep(Duration::from_millis(50));
        if ending(&mut slow, Duration::from_millis(1)) == Ending::Closed {
            cut_off = Some(started.elapsed());
            break;
        }
    }
    let cut_off = cut_off.expect("a client dripping its headers was never cut off");
    assert!(
        cut_off < Duration::from_secs(2),
        "cut off after {cut_off:?}"
    );
    server.assert_serves_a_well_behaved_client();
    assert_no_server_panicked();
}

#[test]
fn a_body_sent_a_byte_at_a_time_is_answered_408_at_the_body_timeout() {
    let server = TestServer::start(|c| c.body_timeout = SHORT);
    let mut slow = server.connect();
    let body = vec![b' '; 1000];
    let headers = server.signed_headers("ListKeys", &body);
    let mut head = format!("POST / HTTP/1.1\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in &headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    slow.write_all(head.as_bytes()).unwrap();
    let started = Instant::now();
    let dripper = {
        let mut slow = slow.try_clone().unwrap();
        std::thread::spawn(move || {
            for _ in 0..40 {
                if slow.write_all(b" ").is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    server.assert_serves_a_well_behaved_client();
    let answer = read_response(&mut slow).unwrap();
    assert_eq!(
        (answer.status, answer.aws_type().as_str()),
        (408, "RequestTimeoutException")
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    dripper.join().unwrap();
    server.assert_serves_a_well_behaved_client();
    assert_no_server_panicked();
}

#[test]
fn a_request_head_past_the_cap_is_answered_431() {
    let server = TestServer::start(|_| {});
    // 80 headers of 1 KiB: 80 KiB, past the default 64 KiB, each header modest.
    let mut head = b"POST / HTTP/1.1\r\nHost: x\r\n".to_vec();
    for i in 0..80 {
        head.extend_from_slice(format!("X-Filler-{i}: {}\r\n", "f".repeat(1024)).as_bytes());
    }
    head.extend_from_slice(b"\r\n");
    assert_eq!(send_hostile(&server, &head), Ending::Answered(431));
    assert_no_server_panicked();
}

#[test]
fn a_single_header_past_the_cap_is_answered_431() {
    let server = TestServer::start(|_| {});
    let head = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\n\r\n",
        "A".repeat(100 << 10)
    );
    assert_eq!(
        send_hostile(&server, head.as_bytes()),
        Ending::Answered(431)
    );
    assert_no_server_panicked();
}

#[test]
fn more_than_a_hundred_headers_are_answered_431() {
    let server = TestServer::start(|_| {});
    let mut head = b"POST / HTTP/1.1\r\nHost: x\r\n".to_vec();
    for i in 0..150 {
        head.extend_from_slice(format!("X-{i}: y\r\n").as_bytes());
    }
    head.extend_from_slice(b"\r\n");
    assert_eq!(send_hostile(&server, &head), Ending::Answered(431));
    assert_no_server_panicked();
}

#[test]
fn thousands_of_idle_connections_are_held_and_then_timed_out_while_others_are_served() {
    // Each connection costs two descriptors in this process (client and server side).
    let room = open_files_limit().unwrap_or(1024).saturating_sub(256) / 2;
    let idle_count = room.min(2000);
    assert!(idle_count >= 200, "too few file descriptors: {room}");
    let header_timeout = Duration::from_secs(1);
    let server = TestServer::start(|c| {
        c.header_timeout = header_timeout;
        c.max_connections = idle_count + 16;
    });
    let mut idle: Vec<TcpStream> = Vec::with_capacity(idle_count);
    while idle.len() < idle_count {
        let batch = (idle_count - idle.len()).min(100);
        idle.extend((0..batch).map(|_| server.connect()));
        // Paced to stay within the listen backlog: a connect past it waits a second for the
        // kernel to retry its SYN.
        std::thread::sleep(Duration::from_millis(50));
    }
    let all_open = Instant::now();
    server.assert_serves_a_well_behaved_client();
    // Every one is closed by the header timeout, none kept.
    for (i, connection) in idle.iter_mut().enumerate() {
        let end = ending(connection, Duration::from_secs(3));
        assert_eq!(end, Ending::Closed, "idle connection {i} of {idle_count}");
    }
    assert!(
        all_open.elapsed() < header_timeout + Duration::from_secs(2),
        "the last of {idle_count} idle connections was closed {:?} after it opened",
        all_open.elapsed()
    );
    server.assert_serves_a_well_behaved_client();
    assert_no_server_panicked();
}

#[test]
fn idle_connections_past_the_cap_are_closed_and_their_slots_return_at_the_header_timeout() {
    let server = TestServer::start(|c| {
        c.header_timeout = SHORT;
        c.max_connections = 50;
    });
    let mut held: Vec<TcpStream> = (0..50).map(|_| server.connect()).collect();
    std::thread::sleep(Duration::from_millis(100));
    let mut turned_away = server.connect();
    assert_eq!(
        ending(&mut turned_away, Duration::from_secs(2)),
        Ending::Closed
    );
    for connection in &mut held {
        assert_eq!(ending(connection, Duration::from_secs(3)), Ending::Closed);
    }
    server.assert_serves_a_well_behaved_client();
    assert_no_server_panicked();
}

#[test]
fn garbage_bytes_are_answered_400_or_closed() {
    // Blank lines before a request line are allowed: those wait for the header timeout.
    let server = TestServer::start(|c| c.header_timeout = SHORT);
    let mut random = vec![0u8; 4096];
    noise(&mut random);
    for garbage in [
        random.as_slice(),
        b"\0\0\0\0\0\0\0\0\r\n\r\n",
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        b"GET / HTTP/9.9\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"\r\n\r\n\r\n",
    ] {
        let end = send_hostile(&server, garbage);
        assert_answered_4xx_or_closed(
            end,
            &String::from_utf8_lossy(&garbage[..16.min(garbage.len())]),
        );
    }
    assert_no_server_panicked();
}

/// Bytes that are not HTTP (nor TLS).
fn noise(buf: &mut [u8]) {
    // A fixed-seed xorshift is enough to make bytes that are not HTTP.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for b in buf {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
}

#[test]
fn a_method_that_is_not_utf8_is_answered_400() {
    let server = TestServer::start(|_| {});
    let end = send_hostile(
        &server,
        b"P\xffST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
    );
    assert_eq!(end, Ending::Answered(400));
    assert_no_server_panicked();
}

#[test]
fn a_path_that_is_not_utf8_is_refused() {
    let server = TestServer::start(|_| {});
    let mut request = b"POST /\xc3\x28\xff HTTP/1.1\r\n".to_vec();
    let signed = signed_head_with(&server, b"{}", "X-Unused", b"1");
    request.extend_from_slice(&signed[b"POST / HTTP/1.1\r\n".len()..]);
    assert_answered_4xx_or_closed(send_hostile(&server, &request), "path");
    assert_no_server_panicked();
}

#[test]
fn a_header_name_that_is_not_utf8_is_answered_400() {
    let server = TestServer::start(|_| {});
    let end = send_hostile(
        &server,
        b"POST / HTTP/1.1\r\nHost: x\r\nX-\xff\xfe: 1\r\nContent-Length: 0\r\n\r\n",
    );
    assert_eq!(end, Ending::Answered(400));
    assert_no_server_panicked();
}

#[test]
fn header_values_that_are_not_utf8_are_refused_with_a_typed_error() {
    let server = TestServer::start(|_| {});
    for header in [
        "X-Amz-Target",
        "Authorization",
        "X-Amz-Date",
        "Content-Type",
        "Host",
        "X-Amz-Security-Token",
    ] {
        let request = signed_head_with(&server, b"{}", header, b"\xc3\x28\xff\xfe\x80");
        let mut hostile = server.connect();
        hostile.write_all(&request).unwrap();
        let answer = read_response(&mut hostile);
        let answer = answer.unwrap_or_else(|e| panic!("{header}: {e}"));
        assert_eq!(answer.status, 400, "{header}: {answer:?}");
        assert!(!answer.aws_type().is_empty(), "{header}: {answer:?}");
        server.assert_serves_a_well_behaved_client();
    }
    assert_no_server_panicked();
}

#[test]
fn a_query_string_that_is_not_utf8_is_refused_with_a_typed_error() {
    let server = TestServer::start(|_| {});
    for query in [
        &b"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=2015\xc3\xa90T123600Z"[..],
        b"X-Amz-Credential=\xff\xfe%ff%fe&X-Amz-Signature=\x80",
        b"%c3%28=%ff",
    ] {
        let mut request = b"POST /?".to_vec();
        request.extend_from_slice(query);
        request.extend_from_slice(
            b" HTTP/1.1\r\nHost: x\r\nX-Amz-Target: TrentService.ListKeys\r\n\
              Content-Type: application/x-amz-json-1.1\r\nContent-Length: 2\r\n\r\n{}",
        );
        let end = send_hostile(&server, &request);
        assert!(
            matches!(end, Ending::Closed | Ending::Answered(400)),
            "{}: {end:?}",
            String::from_utf8_lossy(query)
        );
    }
    assert_no_server_panicked();
}

#[test]
fn a_signed_json_body_that_is_not_utf8_is_a_serialization_exception() {
    let server = TestServer::start(|_| {});
    let body = b"{\"KeyId\":\"\xc3\x28\xff\",\"Plaintext\":\"aGk=\"}";
    let headers = server.signed_headers("Encrypt", body);
    let mut hostile = server.connect();
    write_request(&mut hostile, "POST", "/", &headers, body).unwrap();
    let answer = read_response(&mut hostile).unwrap();
    assert_eq!(
        (answer.status, answer.aws_type().as_str()),
        (400, "SerializationException"),
        "{answer:?}"
    );
    server.assert_serves_a_well_behaved_client();
    assert_no_server_panicked();
}

#[test]
fn half_a_client_hello_then_close_leaves_the_tls_server_serving() {
    let certificates = TestCertificates::issue();
    let server = TestServer::start_tls(&certificates, |_| {});
    let mut client = common::tls_client(&certificates.ca());
    let mut hello = Vec::new();
    client.write_tls(&mut hello).unwrap();
    assert!(hello.len() > 100, "a ClientHello: {} bytes", hello.len());
    for _ in 0..20 {
        let mut hostile = server.connect();
        hostile.write_all(&hello[..hello.len() / 2]).unwrap();
        drop(hostile);
    }
    server.assert_serves_a_well_behaved_client();
    assert_no_server_panicked();
}

#[test]
fn garbage_instead_of_a_client_hello_is_closed() {
    let certificates = TestCertificates::issue();
    let server = TestServer::start_tls(&certificates, |_| {});
    let mut random = vec![0u8; 4096];
    noise(&mut random);
    for garbage in [
        random.as_slice(),
        // Plain HTTP sent to the TLS port.
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}",
        // A handshake record header promising more than it sends.
        b"\x16\x03\x01\xff\xff\x01\x00\xff\xfb",
    ] {
        let end = send_hostile(&server, garbage);
        // Closed, perhaps after a TLS alert record (which is no HTTP answer).
        assert_eq!(end, Ending::Closed);
    }
    assert_no_server_panicked();
}

#[test]
fn garbage_after_a_completed_handshake_closes_the_connection() {
    let certificates = TestCertificates::issue();
    let server = TestServer::start_tls(&certificates, |_| {});
    let tls = common::tls_connect(server.connect(), &certificates.ca());
    let (_, mut tcp) = tls.into_parts();
    // Bytes outside any TLS record, and then a record of the wrong type.
    tcp.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    server.assert_serves_a_well_behaved_client();
    assert_eq!(ending(&mut tcp, Duration::from_secs(3)), Ending::Closed);
    let tls = common::tls_connect(server.connect(), &certificates.ca());
    let (_, mut tcp) = tls.into_parts();
    let _ = tcp.write_all(b"\x63\x03\x03\x00\x05hello");
    assert_eq!(ending(&mut tcp, Duration::from_secs(3)), Ending::Closed);
    server.assert_serves_a_well_behaved_client();
    assert_no_server_panicked();
}

#[test]
fn a_client_that_never_says_hello_is_closed_at_the_handshake_timeout_and_frees_its_slot() {
    let certificates = TestCertificates::issue();
    let server = TestServer::start_tls(&certificates, |c| {
        c.handshake_timeout = SHORT;
        c.max_connections = 1;
    });
    let started = Instant::now();
    let mut silent = server.connect();
    let end = ending(&mut silent, Duration::from_secs(3));
    assert_eq!(end, Ending::Closed);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "closed after {:?}",
        started.elapsed()
    );
    // The only slot is free again.
    server.assert_serves_a_well_behaved_client();
    assert_no_server_panicked();
}

#[test]
fn a_client_in_its_handshake_holds_a_connection_slot() {
    let certificates = TestCertificates::issue();
    let server = TestServer::start_tls(&certificates, |c| {
        c.handshake_timeout = Duration::from_secs(2);
        c.max_connections = 1;
    });
    let _silent = server.connect();
    std::thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    let mut second = server.connect();
    assert_eq!(ending(&mut second, Duration::from_secs(1)), Ending::Closed);
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
    assert_no_server_panicked();
}

#[test]
fn a_client_hello_sent_a_byte_at_a_time_is_cut_off_at_the_handshake_timeout() {
    let certificates = TestCertificates::issue();
    let server = TestServer::start_tls(&certificates, |c| c.handshake_timeout = SHORT);
    let mut client = common::tls_client(&certificates.ca());
    let mut hello = Vec::new();
    client.write_tls(&mut hello).unwrap();
    let mut slow = server.connect();
    let started = Instant::now();
    let mut cut_off = None;
    for byte in hello.iter().cycle().take(200) {
        if slow.write_all(&[*byte]).is_err()
            || ending(&mut slow, Duration::from_millis(1)) == Ending::Closed
        {
            cut_off = Some(started.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let cut_off = cut_off.expect("a dripped ClientHello was never cut off");
    assert!(
        cut_off < Duration::from_secs(2),
        "cut off after {cut_off:?}"
    );
    server.assert_serves_a_well_behaved_client();
    assert_no_server_panicked();
}
