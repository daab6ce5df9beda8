//! A synchronous gRPC client for unary calls over HTTP/2 with prior
//! knowledge (cleartext, as the node's vsock and loopback endpoints speak).
//!
//! The VM side makes a handful of small calls per boot, one at a time: it
//! needs no async runtime, connection pool or TLS. This speaks just the part
//! of HTTP/2 (RFC 9113) those calls use: one stream open at a time, flow
//! control both ways, the peer's SETTINGS and PINGs answered, header blocks
//! decoded with HPACK (the server may index and Huffman-code them), request
//! headers sent as literals (valid whatever the server's table holds).
//!
//! A peer is not trusted to be well behaved: each call (and the handshake)
//! has one deadline on a clock, enforced on a non-blocking socket with
//! `poll`, so no stream of PINGs or trickled bytes keeps it alive; header
//! blocks, the HPACK table and response bodies are capped; SETTINGS and
//! WINDOW_UPDATE values are validated (RFC 9113 §6.5.2, §6.9); after a
//! GOAWAY the connection opens no new stream (the caller reconnects).

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

/// The client's connection preface (RFC 9113 §3.4).
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const PUSH_PROMISE: u8 = 0x5;
const PING: u8 = 0x6;
const GOAWAY: u8 = 0x7;
const WINDOW_UPDATE: u8 = 0x8;
const CONTINUATION: u8 = 0x9;

const END_STREAM: u8 = 0x1;
const ACK: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY: u8 = 0x20;

const SETTINGS_INITIAL_WINDOW_SIZE: u16 = 0x4;
const SETTINGS_MAX_FRAME_SIZE: u16 = 0x5;
const SETTINGS_ENABLE_PUSH: u16 = 0x2;

const DEFAULT_WINDOW: i64 = 65_535;
/// The largest window RFC 9113 allows (§6.9.1).
const MAX_WINDOW: i64 = (1 << 31) - 1;
/// Also the largest frame this client accepts: it never raises its own
/// SETTINGS_MAX_FRAME_SIZE above the default.
const DEFAULT_MAX_FRAME: usize = 16_384;
/// The largest SETTINGS_MAX_FRAME_SIZE a peer may announce (§6.5.2).
const LARGEST_MAX_FRAME: u32 = (1 << 24) - 1;
/// The largest response body it keeps (the node's answers are a few bytes).
const MAX_RESPONSE: usize = 16 << 20;
/// The largest header block (HEADERS and its CONTINUATIONs) it accepts, and
/// the most it keeps of one decoded: the node's are a few hundred bytes.
const MAX_HEADER_BLOCK: usize = 64 << 10;
/// SETTINGS_HEADER_TABLE_SIZE, left at its default: the most the server's
/// HPACK encoder may make the decoder's dynamic table hold (RFC 7541 §4.2).
const HEADER_TABLE_SIZE: usize = 4096;
/// The largest stream identifier (§5.1.1).
const LAST_STREAM_ID: u32 = (1 << 31) - 1;

#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("HTTP/2 protocol error: {0}")]
    Protocol(String),
    /// RFC 9113's FLOW_CONTROL_ERROR: a window past 2^31-1.
    #[error("HTTP/2 flow-control error: {0}")]
    FlowControl(String),
    /// The call (or the handshake) did not finish within its deadline,
    /// however the peer kept the connection busy.
    #[error("no answer within {0:?} (one deadline for the whole call)")]
    Deadline(Duration),
    /// The server sent GOAWAY: this connection opens no new stream.
    #[error("the server is closing the connection (GOAWAY, last stream {last_stream}, error code {code}): reconnect")]
    GoingAway { last_stream: u32, code: u32 },
    /// The call reached the server, which answered with a gRPC status.
    #[error("gRPC status {code}{}", if message.is_empty() { String::new() } else { format!(": {message}") })]
    Status { code: u32, message: String },
    #[error("the response is not a valid message: {0}")]
    Decode(#[from] prost::DecodeError),
}

fn protocol(message: impl Into<String>) -> CallError {
    CallError::Protocol(message.into())
}

impl CallError {
    /// The connection cannot carry another call (a fresh one may).
    pub fn connection_lost(&self) -> bool {
        !matches!(self, CallError::Status { .. } | CallError::Decode(_))
    }
}

/// One HTTP/2 connection making unary gRPC calls, one after the other.
pub struct Client<S> {
    stream: S,
    authority: String,
    decoder: loona_hpack::Decoder<'static>,
    next_stream: u32,
    /// How long one call (or the handshake) may take, start to end.
    call_timeout: Duration,
    /// When the current call must be over.
    deadline: Instant,
    /// The GOAWAY the server sent, if any: (last stream, error code).
    going_away: Option<(u32, u32)>,
    /// A failed call leaves the connection in an unknown state.
    broken: bool,
    /// What the server lets us send: on the connection, and per new stream.
    connection_window: i64,
    initial_stream_window: i64,
    /// What the server lets us send on the call's stream.
    stream_window: i64,
    max_frame: usize,
}

struct Frame {
    kind: u8,
    flags: u8,
    stream: u32,
    payload: Vec<u8>,
}

/// What came back on a stream, gathered until it ends.
#[derive(Default)]
struct Response {
    status: Option<String>,
    grpc_status: Option<String>,
    grpc_message: String,
    body: Vec<u8>,
    ended: bool,
}

impl<S: Read + Write + AsRawFd> Client<S> {
    /// Starts HTTP/2 on a connected stream: the preface and our SETTINGS,
    /// within `call_timeout`. The socket is made non-blocking: every wait is
    /// a `poll` bounded by the call's deadline. The server's SETTINGS are
    /// taken as they arrive, during the first call.
    pub fn handshake(stream: S, authority: &str, call_timeout: Duration) -> Result<Self, CallError> {
        set_nonblocking(&stream)?;
        let mut decoder = loona_hpack::Decoder::new();
        decoder.set_max_allowed_table_size(HEADER_TABLE_SIZE);
        let mut client = Self {
            stream,
            authority: authority.to_string(),
            decoder,
            next_stream: 1,
            call_timeout,
            deadline: Instant::now() + call_timeout,
            going_away: None,
            broken: false,
            connection_window: DEFAULT_WINDOW,
            initial_stream_window: DEFAULT_WINDOW,
            stream_window: DEFAULT_WINDOW,
            max_frame: DEFAULT_MAX_FRAME,
        };
        let mut settings = Vec::new();
        settings.extend_from_slice(&SETTINGS_ENABLE_PUSH.to_be_bytes());
        settings.extend_from_slice(&0u32.to_be_bytes());
        client.write_all(PREFACE)?;
        client.write_frame(SETTINGS, 0, 0, &settings)?;
        Ok(client)
    }

    /// Calls `path` (`/package.Service/Method`) with `request`, returns the
    /// decoded answer or the server's gRPC status. The whole call, however
    /// many frames the server sends, ends by the client's call timeout.
    pub fn unary<Req: prost::Message, Resp: prost::Message + Default>(
        &mut self,
        path: &str,
        request: &Req,
    ) -> Result<Resp, CallError> {
        if let Some((last_stream, code)) = self.going_away {
            return Err(CallError::GoingAway { last_stream, code });
        }
        if self.broken {
            return Err(protocol("an earlier call failed on this connection: reconnect"));
        }
        self.deadline = Instant::now() + self.call_timeout;
        let answer = self.call(path, request);
        if answer.as_ref().is_err_and(CallError::connection_lost) {
            self.broken = true;
        }
        answer
    }

    fn call<Req: prost::Message, Resp: prost::Message + Default>(
        &mut self,
        path: &str,
        request: &Req,
    ) -> Result<Resp, CallError> {
        let id = self.next_stream;
        if id > LAST_STREAM_ID {
            return Err(protocol("stream identifiers exhausted on this connection: reconnect"));
        }
        self.next_stream = id + 2;
        self.stream_window = self.initial_stream_window;

        let headers = request_headers(path, &self.authority);
        // A header block bigger than one frame would need CONTINUATION; ours are ~100 bytes.
        if headers.len() > self.max_frame {
            return Err(protocol("request headers exceed the server's frame size"));
        }
        self.write_frame(HEADERS, END_HEADERS, id, &headers)?;

        let mut body = Vec::with_capacity(5 + request.encoded_len());
        body.push(0); // not compressed
        body.extend_from_slice(
            &u32::try_from(request.encoded_len()).map_err(|_| protocol("request too large"))?.to_be_bytes(),
        );
        request.encode(&mut body).expect("a Vec grows as needed");
        let mut response = Response::default();
        self.send_body(id, &body, &mut response)?;

        while !response.ended {
            let frame = self.read_frame()?;
            self.handle(id, frame, &mut response)?;
        }
        finish(response)
    }

    /// Sends `body` as DATA frames on stream `id`, the last one ending the
    /// stream, within the server's flow-control windows and frame size.
    fn send_body(&mut self, id: u32, body: &[u8], response: &mut Response) -> Result<(), CallError> {
        let mut rest = body;
        loop {
            let allowed = self.connection_window.min(self.stream_window).min(self.max_frame as i64).max(0) as usize;
            if allowed == 0 && !rest.is_empty() {
                // Blocked: read until the server opens a window (or answers early).
                let frame = self.read_frame()?;
                self.handle(id, frame, response)?;
                if response.ended {
                    return Ok(());
                }
                continue;
            }
            let (chunk, remaining) = rest.split_at(allowed.min(rest.len()));
            let flags = if remaining.is_empty() { END_STREAM } else { 0 };
            self.write_frame(DATA, flags, id, chunk)?;
            self.connection_window -= chunk.len() as i64;
            self.stream_window -= chunk.len() as i64;
            rest = remaining;
            if rest.is_empty() {
                return Ok(());
            }
        }
    }

    /// Applies one frame from the server to the connection or the call.
    fn handle(&mut self, id: u32, frame: Frame, response: &mut Response) -> Result<(), CallError> {
        match frame.kind {
            SETTINGS | PING | GOAWAY if frame.stream != 0 => Err(protocol("a connection frame on a stream")),
            SETTINGS if frame.flags & ACK != 0 => {
                if !frame.payload.is_empty() {
                    return Err(protocol("a SETTINGS acknowledgement with a payload"));
                }
                Ok(())
            }
            SETTINGS => {
                self.apply_settings(&frame.payload)?;
                self.write_frame(SETTINGS, ACK, 0, &[])
            }
            PING if frame.payload.len() != 8 => Err(protocol("a PING frame that is not 8 bytes")),
            PING if frame.flags & ACK == 0 => self.write_frame(PING, ACK, 0, &frame.payload),
            PING => Ok(()),
            WINDOW_UPDATE if frame.stream == 0 => {
                self.connection_window = grown(self.connection_window, window_increment(&frame.payload)?)?;
                Ok(())
            }
            WINDOW_UPDATE if frame.stream == id => {
                self.stream_window = grown(self.stream_window, window_increment(&frame.payload)?)?;
                Ok(())
            }
            WINDOW_UPDATE => Ok(()),
            GOAWAY => {
                let word = |at: usize| {
                    frame.payload.get(at..at + 4).map(|b| u32::from_be_bytes(b.try_into().expect("4 bytes")))
                };
                let (Some(last), Some(code)) = (word(0), word(4)) else {
                    return Err(protocol("a GOAWAY frame shorter than 8 bytes"));
                };
                let last = last & LAST_STREAM_ID;
                // A later GOAWAY may only lower the last stream (§6.8).
                let last = self.going_away.map_or(last, |(before, _)| before.min(last));
                self.going_away = Some((last, code));
                if last >= id {
                    // The server will still finish our stream; no new one after it.
                    Ok(())
                } else {
                    Err(CallError::GoingAway { last_stream: last, code })
                }
            }
            PUSH_PROMISE => Err(protocol("the server pushed a stream although push is disabled")),
            HEADERS => {
                let (block, ends, stream) = self.header_block(frame)?;
                let mut fields = Vec::new();
                let mut kept = 0usize;
                self.decoder
                    .decode_with_cb(&block, |name, value| {
                        // Indexed fields can expand a small block: keep a bounded amount.
                        kept += name.len() + value.len();
                        if kept <= MAX_HEADER_BLOCK {
                            fields.push((name.into_owned(), value.into_owned()));
                        }
                    })
                    .map_err(|e| protocol(format!("HPACK: {e:?}")))?;
                if kept > MAX_HEADER_BLOCK {
                    return Err(protocol(format!("a header list of {kept} bytes, over {MAX_HEADER_BLOCK}")));
                }
                if stream == id {
                    for (name, value) in fields {
                        let value = String::from_utf8_lossy(&value).into_owned();
                        match name.as_slice() {
                            b":status" => response.status = Some(value),
                            b"grpc-status" => response.grpc_status = Some(value),
                            b"grpc-message" => response.grpc_message = percent_decode(&value),
                            _ => {}
                        }
                    }
                    response.ended |= ends;
                }
                Ok(())
            }
            DATA => {
                let data = unpadded(&frame)?;
                if frame.stream == id {
                    if response.body.len() + data.len() > MAX_RESPONSE {
                        return Err(protocol("the response is larger than 16 MiB"));
                    }
                    response.body.extend_from_slice(data);
                    response.ended |= frame.flags & END_STREAM != 0;
                }
                // Give back what was consumed, so a large answer keeps flowing.
                let consumed = frame.payload.len() as u32;
                if consumed > 0 {
                    self.write_frame(WINDOW_UPDATE, 0, 0, &consumed.to_be_bytes())?;
                    if frame.stream == id && !response.ended {
                        self.write_frame(WINDOW_UPDATE, 0, id, &consumed.to_be_bytes())?;
                    }
                }
                Ok(())
            }
            RST_STREAM if frame.stream == id => {
                let code = frame.payload.get(..4).map(|b| u32::from_be_bytes(b.try_into().expect("4 bytes")));
                match code {
                    // NO_ERROR after a whole response only says "stop sending" (§8.1).
                    Some(0) if response.ended => Ok(()),
                    Some(0) => Err(protocol("the server reset the call (RST_STREAM NO_ERROR) before it answered")),
                    _ => Err(protocol(format!("the server reset the call (RST_STREAM, error code {code:?})"))),
                }
            }
            CONTINUATION => Err(protocol("CONTINUATION without a HEADERS frame before it")),
            // PRIORITY, RST_STREAM of other streams, unknown extension frames.
            _ => Ok(()),
        }
    }

    /// A HEADERS frame's field block, with any CONTINUATION frames after it:
    /// (block, ends the stream, stream). At most [`MAX_HEADER_BLOCK`] bytes.
    fn header_block(&mut self, frame: Frame) -> Result<(Vec<u8>, bool, u32), CallError> {
        let mut fragment = unpadded(&frame)?;
        if frame.flags & PRIORITY != 0 {
            fragment = fragment.get(5..).ok_or_else(|| protocol("HEADERS frame too short for its priority"))?;
        }
        let mut block = fragment.to_vec();
        let mut done = frame.flags & END_HEADERS != 0;
        while !done {
            let next = self.read_frame()?;
            if next.kind != CONTINUATION || next.stream != frame.stream {
                return Err(protocol("a header block was interrupted by another frame"));
            }
            if block.len() + next.payload.len() > MAX_HEADER_BLOCK {
                return Err(protocol(format!(
                    "a header block over {MAX_HEADER_BLOCK} bytes (CONTINUATION after CONTINUATION)"
                )));
            }
            block.extend_from_slice(&next.payload);
            done = next.flags & END_HEADERS != 0;
        }
        Ok((block, frame.flags & END_STREAM != 0, frame.stream))
    }

    /// The server's SETTINGS, each value checked as RFC 9113 §6.5.2 says.
    fn apply_settings(&mut self, payload: &[u8]) -> Result<(), CallError> {
        if !payload.len().is_multiple_of(6) {
            return Err(protocol("a SETTINGS frame whose length is not a multiple of 6"));
        }
        for setting in payload.chunks_exact(6) {
            let value = u32::from_be_bytes(setting[2..6].try_into().expect("4 bytes"));
            match u16::from_be_bytes([setting[0], setting[1]]) {
                SETTINGS_INITIAL_WINDOW_SIZE => {
                    if i64::from(value) > MAX_WINDOW {
                        return Err(CallError::FlowControl(format!(
                            "SETTINGS_INITIAL_WINDOW_SIZE {value} is over 2^31-1"
                        )));
                    }
                    // A new initial size moves the open stream's window by the difference (§6.9.2).
                    let moved = self.stream_window + i64::from(value) - self.initial_stream_window;
                    if moved > MAX_WINDOW {
                        return Err(CallError::FlowControl("the stream's window would pass 2^31-1".into()));
                    }
                    self.stream_window = moved;
                    self.initial_stream_window = i64::from(value);
                }
                SETTINGS_MAX_FRAME_SIZE => {
                    if !(DEFAULT_MAX_FRAME as u32..=LARGEST_MAX_FRAME).contains(&value) {
                        return Err(protocol(format!(
                            "SETTINGS_MAX_FRAME_SIZE {value} is outside {DEFAULT_MAX_FRAME}..={LARGEST_MAX_FRAME}"
                        )));
                    }
                    self.max_frame = value as usize;
                }
                SETTINGS_ENABLE_PUSH if value > 1 => {
                    return Err(protocol(format!("SETTINGS_ENABLE_PUSH {value} is neither 0 nor 1")));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// One frame out, whole, by the call's deadline.
    fn write_frame(&mut self, kind: u8, flags: u8, id: u32, payload: &[u8]) -> Result<(), CallError> {
        let mut frame = Vec::with_capacity(9 + payload.len());
        frame_head(&mut frame, kind, flags, id, payload.len());
        frame.extend_from_slice(payload);
        self.write_all(&frame)
    }

    fn write_all(&mut self, mut bytes: &[u8]) -> Result<(), CallError> {
        while !bytes.is_empty() {
            match self.stream.write(bytes) {
                Ok(0) => return Err(protocol("the server closed the connection")),
                Ok(n) => bytes = &bytes[n..],
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => self.wait(libc::POLLOUT)?,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(closed_or(e)),
            }
        }
        Ok(())
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> Result<(), CallError> {
        let mut filled = 0;
        while filled < buf.len() {
            match self.stream.read(&mut buf[filled..]) {
                Ok(0) => return Err(protocol("the server closed the connection")),
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => self.wait(libc::POLLIN)?,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(closed_or(e)),
            }
        }
        Ok(())
    }

    /// Waits until the socket is ready for `events`, at most until the deadline.
    fn wait(&self, events: libc::c_short) -> Result<(), CallError> {
        loop {
            let left = self.deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(CallError::Deadline(self.call_timeout));
            }
            let mut fd = libc::pollfd { fd: self.stream.as_raw_fd(), events, revents: 0 };
            // Rounded up: poll's milliseconds must not end the wait early.
            let millis = left.as_micros().div_ceil(1000).min(i32::MAX as u128) as libc::c_int;
            // SAFETY: one valid pollfd, for the duration of the call.
            match unsafe { libc::poll(&mut fd, 1, millis) } {
                -1 => {
                    let e = std::io::Error::last_os_error();
                    if e.kind() != std::io::ErrorKind::Interrupted {
                        return Err(e.into());
                    }
                }
                // Timed out: the loop's check decides, on the clock.
                0 => {}
                _ => return Ok(()),
            }
        }
    }

    fn read_frame(&mut self) -> Result<Frame, CallError> {
        let mut head = [0u8; 9];
        self.read_exact(&mut head)?;
        let length = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        if length > DEFAULT_MAX_FRAME {
            return Err(protocol(format!("a {length}-byte frame, larger than this client allows")));
        }
        let mut payload = vec![0u8; length];
        self.read_exact(&mut payload)?;
        Ok(Frame {
            kind: head[3],
            flags: head[4],
            stream: u32::from_be_bytes(head[5..9].try_into().unwrap()) & 0x7fff_ffff,
            payload,
        })
    }
}

/// The answer of a finished stream, or why it is not one.
fn finish<Resp: prost::Message + Default>(response: Response) -> Result<Resp, CallError> {
    match response.status.as_deref() {
        Some("200") => {}
        other => return Err(protocol(format!("HTTP status {}", other.unwrap_or("missing")))),
    }
    let code = response
        .grpc_status
        .ok_or_else(|| protocol("the response ended without a grpc-status"))?
        .parse::<u32>()
        .map_err(|_| protocol("a grpc-status that is not a number"))?;
    if code != 0 {
        return Err(CallError::Status { code, message: response.grpc_message });
    }
    let body = response.body;
    if body.len() < 5 {
        return Err(protocol(format!("a {}-byte response body, shorter than a gRPC message header", body.len())));
    }
    if body[0] != 0 {
        return Err(protocol("a compressed response, which this client never asked for"));
    }
    let length = u32::from_be_bytes(body[1..5].try_into().unwrap()) as usize;
    if body.len() != 5 + length {
        return Err(protocol(format!("a message of {length} bytes in a {}-byte body", body.len() - 5)));
    }
    Ok(Resp::decode(&body[5..])?)
}

/// The request's header block: each field a literal without indexing, new
/// name, no Huffman (RFC 7541 §6.2.2), which any decoder state accepts.
fn request_headers(path: &str, authority: &str) -> Vec<u8> {
    let fields = [
        (":method", "POST"),
        (":scheme", "http"),
        (":path", path),
        (":authority", authority),
        ("content-type", "application/grpc"),
        ("te", "trailers"),
    ];
    let mut block = Vec::new();
    for (name, value) in fields {
        block.push(0x00);
        push_string(&mut block, name.as_bytes());
        push_string(&mut block, value.as_bytes());
    }
    block
}

/// An HPACK string literal: H=0, length as a 7-bit-prefix integer.
fn push_string(block: &mut Vec<u8>, bytes: &[u8]) {
    let mut length = bytes.len();
    if length < 0x7f {
        block.push(length as u8);
    } else {
        block.push(0x7f);
        length -= 0x7f;
        while length >= 0x80 {
            block.push((length & 0x7f) as u8 | 0x80);
            length >>= 7;
        }
        block.push(length as u8);
    }
    block.extend_from_slice(bytes);
}

/// A frame's 9-byte header (the caller keeps `length` within the peer's
/// SETTINGS_MAX_FRAME_SIZE, itself at most 2^24-1).
fn frame_head(out: &mut Vec<u8>, kind: u8, flags: u8, id: u32, length: usize) {
    debug_assert!(length <= LARGEST_MAX_FRAME as usize);
    out.extend_from_slice(&(length as u32).to_be_bytes()[1..]);
    out.push(kind);
    out.push(flags);
    out.extend_from_slice(&id.to_be_bytes());
}

fn set_nonblocking(stream: &impl AsRawFd) -> std::io::Result<()> {
    let fd = stream.as_raw_fd();
    // SAFETY: fcntl on a descriptor the caller owns, flags only.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// A peer that went away is said so; other I/O errors as they are.
fn closed_or(e: std::io::Error) -> CallError {
    match e.kind() {
        std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset => {
            protocol(format!("the server closed the connection ({e})"))
        }
        _ => CallError::Io(e),
    }
}

/// A flow-control window after an increment, at most 2^31-1 (§6.9.1).
fn grown(window: i64, increment: i64) -> Result<i64, CallError> {
    let grown = window + increment;
    if grown > MAX_WINDOW {
        return Err(CallError::FlowControl(format!("a WINDOW_UPDATE took a window to {grown}, past 2^31-1")));
    }
    Ok(grown)
}

/// A DATA or HEADERS payload without its padding.
fn unpadded(frame: &Frame) -> Result<&[u8], CallError> {
    if frame.flags & PADDED == 0 {
        return Ok(&frame.payload);
    }
    let pad = *frame.payload.first().ok_or_else(|| protocol("a padded frame without a pad length"))? as usize;
    let end = frame
        .payload
        .len()
        .checked_sub(pad)
        .filter(|&end| end >= 1)
        .ok_or_else(|| protocol("padding longer than its frame"))?;
    Ok(&frame.payload[1..end])
}

fn window_increment(payload: &[u8]) -> Result<i64, CallError> {
    let bytes: [u8; 4] = payload.try_into().map_err(|_| protocol("a WINDOW_UPDATE frame that is not 4 bytes"))?;
    match i64::from(u32::from_be_bytes(bytes) & 0x7fff_ffff) {
        0 => Err(protocol("a WINDOW_UPDATE of 0 (§6.9)")),
        increment => Ok(increment),
    }
}

/// grpc-message is percent-encoded (gRPC over HTTP/2 spec).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let hex = |b: u8| (b as char).to_digit(16);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(high), Some(low)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((high * 16 + low) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_headers_decode_with_a_real_hpack_decoder() {
        let long_path = format!("/{}", "p".repeat(300));
        let block = request_headers(&long_path, "vsock.invalid");
        let fields = loona_hpack::Decoder::new().decode(&block).unwrap();
        let fields: Vec<(String, String)> =
            fields.into_iter().map(|(n, v)| (String::from_utf8(n).unwrap(), String::from_utf8(v).unwrap())).collect();
        assert_eq!(fields[0], (":method".into(), "POST".into()));
        assert_eq!(fields[2], (":path".into(), long_path));
        assert_eq!(fields[3], (":authority".into(), "vsock.invalid".into()));
        assert_eq!(fields[5], ("te".into(), "trailers".into()));
    }

    #[test]
    fn grpc_messages_are_percent_decoded() {
        assert_eq!(percent_decode("unknown task%3A ab%20cd"), "unknown task: ab cd");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }

    #[test]
    fn padding_is_removed_and_bad_padding_refused() {
        let frame = Frame { kind: DATA, flags: PADDED, stream: 1, payload: vec![2, b'o', b'k', 0, 0] };
        assert_eq!(unpadded(&frame).unwrap(), b"ok");
        let frame = Frame { kind: DATA, flags: PADDED, stream: 1, payload: vec![9, b'x'] };
        assert!(unpadded(&frame).is_err());
    }
}
