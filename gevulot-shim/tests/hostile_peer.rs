//! The VM side's gRPC client against a scripted raw-frame peer: a test
//! server that writes exact HTTP/2 frames, well-behaved or not. Every
//! hostile script ends in a clear error, never a hang (one deadline per
//! call) or unbounded memory; random frame sequences never panic it.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use gevulot_shim::grpc::{CallError, Client};
use gevulot_shim::proto::{TaskRequest, TaskResponse};
use rand::{Rng, RngCore, SeedableRng};

const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;
const GOAWAY: u8 = 0x7;
const WINDOW_UPDATE: u8 = 0x8;
const CONTINUATION: u8 = 0x9;
const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;

/// The client's whole budget for one call.
const CALL: Duration = Duration::from_secs(2);

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = (payload.len() as u32).to_be_bytes()[1..].to_vec();
    out.extend([kind, flags]);
    out.extend(stream.to_be_bytes());
    out.extend(payload);
    out
}

fn setting(id: u16, value: u32) -> Vec<u8> {
    [id.to_be_bytes().to_vec(), value.to_be_bytes().to_vec()].concat()
}

/// `:status: 200` (static table index 8).
fn status_200(stream: u32, flags: u8) -> Vec<u8> {
    frame(HEADERS, END_HEADERS | flags, stream, &[0x88])
}

/// An empty protobuf message as a gRPC body.
fn empty_message(stream: u32, flags: u8) -> Vec<u8> {
    frame(DATA, flags, stream, &[0, 0, 0, 0, 0])
}

/// `grpc-status: 0` as a literal without indexing, ending the stream.
fn ok_trailers(stream: u32) -> Vec<u8> {
    let mut block = vec![0x00, 11];
    block.extend(b"grpc-status");
    block.extend([1, b'0']);
    frame(HEADERS, END_HEADERS | END_STREAM, stream, &block)
}

/// A client on one end of a socket pair whose other end runs `script`
/// (given the peer's socket, after the client's preface has been read).
fn against(script: impl FnOnce(&mut UnixStream) + Send + 'static) -> (Client<UnixStream>, std::thread::JoinHandle<()>) {
    let (client_end, mut peer) = UnixStream::pair().unwrap();
    let peer_thread = std::thread::spawn(move || {
        // The preface (24 bytes) and the client's SETTINGS (9 + 6).
        let mut preface = [0u8; 24 + 15];
        if peer.read_exact(&mut preface).is_ok() {
            script(&mut peer);
        }
    });
    (Client::handshake(client_end, "peer.invalid", CALL).unwrap(), peer_thread)
}

fn call(client: &mut Client<UnixStream>) -> Result<TaskResponse, CallError> {
    client.unary("/vm_service.VMService/GetTask", &TaskRequest {})
}

/// Writes, ignoring a closed client (the scripts outlive failed calls).
fn send(peer: &mut UnixStream, bytes: &[u8]) -> bool {
    peer.write_all(bytes).is_ok()
}

#[test]
fn a_well_behaved_peer_is_answered() {
    let (mut client, peer) = against(|p| {
        for bytes in [status_200(1, 0), empty_message(1, 0), ok_trailers(1)] {
            send(p, &bytes);
        }
        std::thread::sleep(Duration::from_millis(200));
    });
    call(&mut client).expect("a plain answer");
    peer.join().unwrap();
}

#[test]
fn goaway_before_our_stream_ends_the_call_and_the_connection() {
    let (mut client, _peer) = against(|p| {
        // Last stream 0: our stream 1 will not be processed.
        send(p, &frame(GOAWAY, 0, 0, &[0, 0, 0, 0, 0, 0, 0, 0]));
        std::thread::sleep(Duration::from_secs(1));
    });
    let e = call(&mut client).unwrap_err();
    assert!(matches!(e, CallError::GoingAway { last_stream: 0, code: 0 }), "{e}");
    // No new stream on a connection going away: the caller must reconnect.
    let e = call(&mut client).unwrap_err();
    assert!(matches!(e, CallError::GoingAway { .. }) && e.to_string().contains("reconnect"), "{e}");
}

#[test]
fn goaway_after_our_stream_lets_it_finish_then_refuses_the_next() {
    let (mut client, peer) = against(|p| {
        send(p, &frame(GOAWAY, 0, 0, &[0, 0, 0, 1, 0, 0, 0, 0]));
        for bytes in [status_200(1, 0), empty_message(1, 0), ok_trailers(1)] {
            send(p, &bytes);
        }
        std::thread::sleep(Duration::from_millis(200));
    });
    call(&mut client).expect("stream 1 is within the GOAWAY's last stream");
    assert!(matches!(call(&mut client).unwrap_err(), CallError::GoingAway { last_stream: 1, .. }));
    peer.join().unwrap();
}

#[test]
fn a_ping_storm_cannot_outlast_the_call_deadline() {
    let (mut client, _peer) = against(|p| {
        // A PING every 50 ms, for longer than any deadline: each one is
        // answered, none is an answer.
        let until = Instant::now() + Duration::from_secs(30);
        while Instant::now() < until && send(p, &frame(PING, 0, 0, &[7; 8])) {
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    let started = Instant::now();
    let e = call(&mut client).unwrap_err();
    assert!(matches!(e, CallError::Deadline(d) if d == CALL), "{e}");
    assert!(started.elapsed() >= CALL, "it gave up before its deadline");
}

#[test]
fn a_silent_peer_ends_at_the_deadline() {
    let (mut client, _peer) = against(|_| std::thread::sleep(Duration::from_secs(30)));
    let e = call(&mut client).unwrap_err();
    assert!(matches!(e, CallError::Deadline(_)), "{e}");
}

#[test]
fn settings_are_validated() {
    for (settings, expected) in [
        (setting(0x5, 0), "SETTINGS_MAX_FRAME_SIZE 0"),
        (setting(0x5, 1 << 24), "SETTINGS_MAX_FRAME_SIZE 16777216"),
        (setting(0x4, 1 << 31), "SETTINGS_INITIAL_WINDOW_SIZE 2147483648"),
        (setting(0x2, 2), "SETTINGS_ENABLE_PUSH 2"),
        (vec![0; 5], "not a multiple of 6"),
    ] {
        let (mut client, _peer) = against(move |p| {
            send(p, &frame(SETTINGS, 0, 0, &settings));
            std::thread::sleep(Duration::from_secs(1));
        });
        let e = call(&mut client).unwrap_err();
        assert!(e.to_string().contains(expected), "{expected}: {e}");
    }
    // A window pushed past 2^31-1 is a flow-control error.
    let (mut client, _peer) = against(|p| {
        send(p, &frame(WINDOW_UPDATE, 0, 0, &0x7fff_ffffu32.to_be_bytes()));
        std::thread::sleep(Duration::from_secs(1));
    });
    assert!(matches!(call(&mut client).unwrap_err(), CallError::FlowControl(_)));
}

#[test]
fn endless_continuation_is_capped() {
    let (mut client, _peer) = against(|p| {
        send(p, &frame(HEADERS, 0, 1, &[0x88]));
        let filler = [0x88u8; 16_384];
        while send(p, &frame(CONTINUATION, 0, 1, &filler)) {}
    });
    let e = call(&mut client).unwrap_err();
    assert!(e.to_string().contains("header block over 65536 bytes"), "{e}");
}

#[test]
fn a_huge_hpack_table_is_refused() {
    let (mut client, _peer) = against(|p| {
        // Dynamic table size update to 2^20 (001xxxxx, then the integer), then :status 200.
        let mut block = vec![0x3f];
        let mut rest = (1u32 << 20) - 31;
        while rest >= 128 {
            block.push((rest % 128) as u8 | 0x80);
            rest /= 128;
        }
        block.push(rest as u8);
        block.push(0x88);
        send(p, &frame(HEADERS, END_HEADERS, 1, &block));
        std::thread::sleep(Duration::from_secs(1));
    });
    let e = call(&mut client).unwrap_err();
    assert!(e.to_string().contains("HPACK"), "{e}");
}

#[test]
fn resets_and_early_closes_are_errors() {
    for (code, expected) in [(2u32, "error code Some(2)"), (0, "NO_ERROR) before it answered")] {
        let (mut client, _peer) = against(move |p| {
            send(p, &frame(RST_STREAM, 0, 1, &code.to_be_bytes()));
            std::thread::sleep(Duration::from_secs(1));
        });
        let e = call(&mut client).unwrap_err();
        assert!(e.to_string().contains(expected), "{expected}: {e}");
    }
    // Headers and a message, then the connection closes before the trailers.
    let (mut client, _peer) = against(|p| {
        send(p, &status_200(1, 0));
        send(p, &empty_message(1, 0));
    });
    let e = call(&mut client).unwrap_err();
    assert!(e.to_string().contains("closed the connection"), "{e}");
    assert!(e.connection_lost());
}

fn below(rng: &mut impl Rng, n: u64) -> u64 {
    rng.gen_range(0..n)
}

/// Random frame sequences (types, flags, streams, lengths and payloads,
/// some well-formed): the client never panics and always returns, with an
/// answer or an error, holding no more than its caps.
#[test]
fn random_frame_sequences_never_panic() {
    // Seeded, so a failing round reproduces.
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed_cafe_f00d_0001);
    for round in 0..300 {
        let mut script = Vec::new();
        for _ in 0..below(&mut rng, 12) + 1 {
            let kind = match below(&mut rng, 4) {
                0 => below(&mut rng, 256) as u8,
                _ => [DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION]
                    [below(&mut rng, 8) as usize],
            };
            let flags = below(&mut rng, 256) as u8;
            let stream = [0, 1, 3, rng.next_u64() as u32][below(&mut rng, 4) as usize];
            let length = match below(&mut rng, 5) {
                0 => 0,
                1 => 8,
                2 => 6 * below(&mut rng, 4) as usize,
                3 => below(&mut rng, 64) as usize,
                _ => below(&mut rng, 20_000) as usize,
            };
            let payload: Vec<u8> = (0..length).map(|_| rng.next_u64() as u8).collect();
            if below(&mut rng, 10) == 0 {
                // A length field that lies about its payload.
                let mut f = frame(kind, flags, stream, &payload);
                f[0] = rng.next_u64() as u8;
                script.extend(f);
            } else {
                script.extend(frame(kind, flags, stream, &payload));
            }
        }
        let (mut client, peer) = against(move |p| {
            send(p, &script);
        });
        // Ok or Err: what matters is that it returns, without panicking.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| call(&mut client)))
            .unwrap_or_else(|_| panic!("round {round}: the client panicked"));
        peer.join().unwrap();
    }
}

/// Reads the client's frames until one ends a stream (its request's last
/// DATA frame); false when the connection ends first.
fn read_request(peer: &mut impl Read) -> bool {
    loop {
        let mut head = [0u8; 9];
        if peer.read_exact(&mut head).is_err() {
            return false;
        }
        let length = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        let mut payload = vec![0u8; length];
        if peer.read_exact(&mut payload).is_err() {
            return false;
        }
        if head[3] == DATA && head[4] & END_STREAM != 0 {
            return true;
        }
    }
}

/// A gRPC answer on `stream`: headers, the message, `grpc-status: 0`.
fn answer(stream: u32, message: &impl prost::Message) -> Vec<u8> {
    let mut body = vec![0];
    body.extend((message.encoded_len() as u32).to_be_bytes());
    message.encode(&mut body).unwrap();
    [status_200(stream, 0), frame(DATA, 0, stream, &body), ok_trailers(stream)].concat()
}

/// The node's connection dies after the VM sent its result and before it
/// answered: the result is sent again on a fresh connection (the node
/// takes a result once by task, so a second one is harmless there).
#[test]
fn a_result_lost_with_its_connection_is_sent_again() {
    use gevulot_shim::proto::{task_response, Task, TaskResultResponse};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let results_seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = results_seen.clone();
    let node = std::thread::spawn(move || {
        // First connection: GetTask answered, SubmitResult read, then the connection drops.
        let (mut first, _) = listener.accept().unwrap();
        let mut preface = [0u8; 24];
        first.read_exact(&mut preface).unwrap();
        assert!(read_request(&mut first));
        let task = TaskResponse {
            result: Some(task_response::Result::Task(Task {
                tx_hash: "ab".repeat(32),
                name: "t".into(),
                args: vec!["verify".into()],
                files: vec![],
            })),
        };
        first.write_all(&answer(1, &task)).unwrap();
        assert!(read_request(&mut first));
        seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        drop(first);
        // Second connection: the same result, answered.
        let (mut second, _) = listener.accept().unwrap();
        second.read_exact(&mut preface).unwrap();
        assert!(read_request(&mut second));
        seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        second.write_all(&answer(1, &TaskResultResponse { r#continue: false })).unwrap();
        std::thread::sleep(Duration::from_millis(200));
    });
    let ws = tempfile::tempdir().unwrap();
    let config = gevulot_shim::Config {
        endpoint: Some(format!("http://{addr}")),
        workspace: Some(ws.path().to_path_buf()),
        connect_timeout: Duration::from_secs(2),
        rpc_timeout: CALL,
        task_wait: Duration::from_secs(2),
        mount_wait: Duration::from_secs(1),
    };
    gevulot_shim::run_with(&config, |task, _| {
        assert_eq!(task.args, ["verify"]);
        Ok(gevulot_shim::TaskOutput::default())
    })
    .expect("the result reached the node on the second connection");
    node.join().unwrap();
    assert_eq!(results_seen.load(std::sync::atomic::Ordering::SeqCst), 2);
}
