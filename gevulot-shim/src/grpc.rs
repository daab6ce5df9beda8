//! A synchronous gRPC client for unary calls over HTTP/2 with prior
//! knowledge (cleartext, as the node's vsock and loopback endpoints speak).
//!
//! The VM side makes a handful of small calls per boot, one at a time: it
//! needs no async runtime, connection pool or TLS. This speaks just the part
//! of HTTP/2 (RFC 9113) those calls use: one stream open at a time, flow
//! control both ways, the peer's SETTINGS and PINGs answered, header blocks
//! decoded with HPACK (the server may index and Huffman-code them), request
//! headers sent as literals (valid whatever the server's table holds).

use std::io::{Read, Write};

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
/// Also the largest frame this client accepts: it never raises its own
/// SETTINGS_MAX_FRAME_SIZE above the default.
const DEFAULT_MAX_FRAME: usize = 16_384;
/// The largest response body it keeps (the node's answers are a few bytes).
const MAX_RESPONSE: usize = 16 << 20;

#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("HTTP/2 protocol error: {0}")]
    Protocol(String),
    /// The call reached the server, which answered with a gRPC status.
    #[error("gRPC status {code}{}", if message.is_empty() { String::new() } else { format!(": {message}") })]
    Status { code: u32, message: String },
    #[error("the response is not a valid message: {0}")]
    Decode(#[from] prost::DecodeError),
}

fn protocol(message: impl Into<String>) -> CallError {
    CallError::Protocol(message.into())
}

/// One HTTP/2 connection making unary gRPC calls, one after the other.
pub struct Client<S> {
    stream: S,
    authority: String,
    decoder: loona_hpack::Decoder<'static>,
    next_stream: u32,
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

impl<S: Read + Write> Client<S> {
    /// Starts HTTP/2 on a connected stream: the preface and our SETTINGS.
    /// The server's SETTINGS are taken as they arrive, during the first call.
    pub fn handshake(mut stream: S, authority: &str) -> Result<Self, CallError> {
        let mut settings = Vec::new();
        settings.extend_from_slice(&SETTINGS_ENABLE_PUSH.to_be_bytes());
        settings.extend_from_slice(&0u32.to_be_bytes());
        stream.write_all(PREFACE)?;
        write_frame(&mut stream, SETTINGS, 0, 0, &settings)?;
        stream.flush()?;
        Ok(Self {
            stream,
            authority: authority.to_string(),
            decoder: loona_hpack::Decoder::new(),
            next_stream: 1,
            connection_window: DEFAULT_WINDOW,
            initial_stream_window: DEFAULT_WINDOW,
            stream_window: DEFAULT_WINDOW,
            max_frame: DEFAULT_MAX_FRAME,
        })
    }

    /// Calls `path` (`/package.Service/Method`) with `request`, returns the
    /// decoded answer or the server's gRPC status.
    pub fn unary<Req: prost::Message, Resp: prost::Message + Default>(
        &mut self,
        path: &str,
        request: &Req,
    ) -> Result<Resp, CallError> {
        let id = self.next_stream;
        self.next_stream = id.checked_add(2).ok_or_else(|| protocol("stream identifiers exhausted"))?;
        self.stream_window = self.initial_stream_window;

        let headers = request_headers(path, &self.authority);
        // A header block bigger than one frame would need CONTINUATION; ours are ~100 bytes.
        if headers.len() > self.max_frame {
            return Err(protocol("request headers exceed the server's frame size"));
        }
        write_frame(&mut self.stream, HEADERS, END_HEADERS, id, &headers)?;

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
            write_frame(&mut self.stream, DATA, flags, id, chunk)?;
            self.connection_window -= chunk.len() as i64;
            self.stream_window -= chunk.len() as i64;
            rest = remaining;
            if rest.is_empty() {
                self.stream.flush()?;
                return Ok(());
            }
        }
    }

    /// Applies one frame from the server to the connection or the call.
    fn handle(&mut self, id: u32, frame: Frame, response: &mut Response) -> Result<(), CallError> {
        match frame.kind {
            SETTINGS if frame.flags & ACK != 0 => Ok(()),
            SETTINGS => {
                self.apply_settings(&frame.payload)?;
                write_frame(&mut self.stream, SETTINGS, ACK, 0, &[])?;
                Ok(self.stream.flush()?)
            }
            PING if frame.flags & ACK == 0 => {
                write_frame(&mut self.stream, PING, ACK, 0, &frame.payload)?;
                Ok(self.stream.flush()?)
            }
            PING => Ok(()),
            WINDOW_UPDATE if frame.stream == 0 => {
                self.connection_window += window_increment(&frame.payload)?;
                Ok(())
            }
            WINDOW_UPDATE if frame.stream == id => {
                self.stream_window += window_increment(&frame.payload)?;
                Ok(())
            }
            WINDOW_UPDATE => Ok(()),
            GOAWAY => {
                let last = frame.payload.get(..4).map(|b| u32::from_be_bytes(b.try_into().unwrap()) & 0x7fff_ffff);
                let code = frame.payload.get(4..8).map(|b| u32::from_be_bytes(b.try_into().unwrap()));
                match last {
                    // The server will still finish our stream.
                    Some(last) if last >= id => Ok(()),
                    _ => Err(protocol(format!("the server closed the connection (GOAWAY, error code {code:?})"))),
                }
            }
            PUSH_PROMISE => Err(protocol("the server pushed a stream although push is disabled")),
            HEADERS => {
                let block = self.header_block(frame)?;
                let ends = block.1;
                let fields = self.decoder.decode(&block.0).map_err(|e| protocol(format!("HPACK: {e}")))?;
                if block.2 == id {
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
                    write_frame(&mut self.stream, WINDOW_UPDATE, 0, 0, &consumed.to_be_bytes())?;
                    if frame.stream == id && !response.ended {
                        write_frame(&mut self.stream, WINDOW_UPDATE, 0, id, &consumed.to_be_bytes())?;
                    }
                    self.stream.flush()?;
                }
                Ok(())
            }
            RST_STREAM if frame.stream == id => {
                let code = frame.payload.get(..4).map(|b| u32::from_be_bytes(b.try_into().unwrap()));
                Err(protocol(format!("the server reset the call (RST_STREAM, error code {code:?})")))
            }
            CONTINUATION => Err(protocol("CONTINUATION without a HEADERS frame before it")),
            // PRIORITY, RST_STREAM of other streams, unknown extension frames.
            _ => Ok(()),
        }
    }

    /// A HEADERS frame's field block, with any CONTINUATION frames after it:
    /// (block, ends the stream, stream).
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
            block.extend_from_slice(&next.payload);
            done = next.flags & END_HEADERS != 0;
        }
        Ok((block, frame.flags & END_STREAM != 0, frame.stream))
    }

    fn apply_settings(&mut self, payload: &[u8]) -> Result<(), CallError> {
        if !payload.len().is_multiple_of(6) {
            return Err(protocol("a SETTINGS frame whose length is not a multiple of 6"));
        }
        for setting in payload.chunks_exact(6) {
            let value = u32::from_be_bytes(setting[2..6].try_into().unwrap());
            match u16::from_be_bytes([setting[0], setting[1]]) {
                SETTINGS_INITIAL_WINDOW_SIZE => {
                    // A new initial size moves the open stream's window by the difference (§6.9.2).
                    self.stream_window += i64::from(value) - self.initial_stream_window;
                    self.initial_stream_window = i64::from(value);
                }
                SETTINGS_MAX_FRAME_SIZE => self.max_frame = value as usize,
                _ => {}
            }
        }
        Ok(())
    }

    fn read_frame(&mut self) -> Result<Frame, CallError> {
        let mut head = [0u8; 9];
        self.stream.read_exact(&mut head).map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => protocol("the server closed the connection"),
            _ => CallError::Io(e),
        })?;
        let length = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        if length > DEFAULT_MAX_FRAME {
            return Err(protocol(format!("a {length}-byte frame, larger than this client allows")));
        }
        let mut payload = vec![0u8; length];
        self.stream.read_exact(&mut payload)?;
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

fn write_frame(stream: &mut impl Write, kind: u8, flags: u8, id: u32, payload: &[u8]) -> std::io::Result<()> {
    let length = payload.len() as u32;
    let mut head = [0u8; 9];
    head[..3].copy_from_slice(&length.to_be_bytes()[1..]);
    head[3] = kind;
    head[4] = flags;
    head[5..].copy_from_slice(&id.to_be_bytes());
    stream.write_all(&head)?;
    stream.write_all(payload)
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
    Ok(i64::from(u32::from_be_bytes(bytes) & 0x7fff_ffff))
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
