//! A real SMTP server on 127.0.0.1 inside the test process (mailin-embedded), keeping
//! every message it accepts, and the few things a test reads from a message.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use mailin_embedded::{Handler, Response, Server, response};

/// One message as the SMTP server received it.
#[derive(Debug, Clone)]
pub struct Delivered {
    /// The envelope's recipients.
    pub to: Vec<String>,
    /// The message as sent, headers and body.
    pub raw: String,
}

impl Delivered {
    /// The `Subject` header.
    pub fn subject(&self) -> String {
        self.header("Subject").unwrap_or_default()
    }

    fn header(&self, name: &str) -> Option<String> {
        let head = self.raw.split("\r\n\r\n").next()?;
        head.split("\r\n")
            .find_map(|line| line.strip_prefix(&format!("{name}: ")))
            .map(str::to_owned)
    }

    /// The decoded body of the part of type `mime` (`text/plain`, `text/html`).
    pub fn part(&self, mime: &str) -> String {
        let start = self
            .raw
            .find(&format!("Content-Type: {mime}"))
            .unwrap_or_else(|| panic!("no {mime} part in {}", self.raw));
        let part = &self.raw[start..];
        let (headers, body) = part.split_once("\r\n\r\n").expect("part body");
        let body = body.split("\r\n--").next().unwrap_or_default();
        if headers.contains("Content-Transfer-Encoding: base64") {
            let joined: String = body.split_whitespace().collect();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(joined)
                .expect("base64 part");
            String::from_utf8(bytes).expect("utf-8 part")
        } else if headers.contains("Content-Transfer-Encoding: quoted-printable") {
            decode_quoted_printable(body)
        } else {
            body.to_owned()
        }
    }

    /// The text of the plain part.
    pub fn text(&self) -> String {
        self.part("text/plain")
    }

    /// The link of the plain part, if it has one.
    pub fn link(&self) -> Option<String> {
        self.text()
            .split_whitespace()
            .find(|word| word.starts_with("http"))
            .map(str::to_owned)
    }

    /// The token in the fragment of the message's link.
    pub fn token(&self) -> String {
        let link = self
            .link()
            .unwrap_or_else(|| panic!("no link in {}", self.text()));
        link.split_once("#token=")
            .unwrap_or_else(|| panic!("no token in {link}"))
            .1
            .to_owned()
    }
}

fn decode_quoted_printable(body: &str) -> String {
    let joined = body.replace("=\r\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'=')
            .then(|| joined.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        if let Some(byte) = escaped {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).expect("utf-8 part")
}

#[derive(Default)]
struct Inbox {
    messages: Mutex<Vec<Delivered>>,
    refusing: AtomicBool,
}

/// The server's handler: one per connection, cloned from the server's.
#[derive(Clone)]
struct Recorder {
    inbox: Arc<Inbox>,
    to: Vec<String>,
    data: Vec<u8>,
}

impl Handler for Recorder {
    fn rcpt(&mut self, _to: &str) -> Response {
        if self.inbox.refusing.load(Ordering::SeqCst) {
            return response::INTERNAL_ERROR;
        }
        response::OK
    }

    fn data_start(&mut self, _domain: &str, _from: &str, _is8bit: bool, to: &[String]) -> Response {
        self.to = to.to_vec();
        self.data.clear();
        response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        let raw = String::from_utf8_lossy(&self.data).into_owned();
        self.inbox.messages.lock().unwrap().push(Delivered {
            to: std::mem::take(&mut self.to),
            raw,
        });
        response::OK
    }
}

/// An SMTP server for one test. Its threads live as long as the test process.
pub struct MailServer {
    port: u16,
    inbox: Arc<Inbox>,
}

impl MailServer {
    /// Starts accepting on a free port of 127.0.0.1.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind SMTP");
        let port = listener.local_addr().unwrap().port();
        let inbox = Arc::new(Inbox::default());
        let mut server = Server::new(Recorder {
            inbox: inbox.clone(),
            to: Vec::new(),
            data: Vec::new(),
        });
        server
            .with_name("mail.test")
            .with_num_threads(2)
            .with_tcp_listener(listener);
        std::thread::spawn(move || {
            let _ = server.serve();
        });
        Self { port, inbox }
    }

    /// The `SMTP_URL` that reaches it (plain SMTP on loopback).
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// While `refusing`, every recipient is answered 451 (try again later), as by a server
    /// that cannot take mail for now.
    pub fn refuse(&self, refusing: bool) {
        self.inbox.refusing.store(refusing, Ordering::SeqCst);
    }

    /// Every message accepted so far for `recipient`.
    pub fn to(&self, recipient: &str) -> Vec<Delivered> {
        self.inbox
            .messages
            .lock()
            .unwrap()
            .iter()
            .filter(|message| message.to.iter().any(|to| to == recipient))
            .cloned()
            .collect()
    }

    /// Every message accepted so far.
    pub fn all(&self) -> Vec<Delivered> {
        self.inbox.messages.lock().unwrap().clone()
    }

    /// Waits (at most 15 s) until `recipient` has `count` messages, and returns them.
    pub async fn wait_for(&self, recipient: &str, count: usize) -> Vec<Delivered> {
        self.wait_within(recipient, count, Duration::from_secs(15))
            .await
    }

    /// [`MailServer::nth`], waiting at most `limit`.
    pub async fn nth_within(&self, recipient: &str, count: usize, limit: Duration) -> Delivered {
        self.wait_within(recipient, count, limit).await[count - 1].clone()
    }

    async fn wait_within(&self, recipient: &str, count: usize, limit: Duration) -> Vec<Delivered> {
        for _ in 0..limit.as_millis() / 50 {
            let messages = self.to(recipient);
            if messages.len() >= count {
                return messages;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "{recipient} got {} of {count} messages: {:?}",
            self.to(recipient).len(),
            self.all()
                .iter()
                .map(|m| (&m.to, m.subject()))
                .collect::<Vec<_>>()
        );
    }

    /// The newest message for `recipient`, once there are `count`.
    pub async fn nth(&self, recipient: &str, count: usize) -> Delivered {
        self.wait_for(recipient, count).await[count - 1].clone()
    }
}

/// The files of a development mail folder, once it holds `count` (waiting at most 10 s).
pub async fn mail_files(dir: &Path, count: usize) -> Vec<PathBuf> {
    let list = || -> Vec<PathBuf> {
        std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|entry| entry.path())
                    .collect()
            })
            .unwrap_or_default()
    };
    for _ in 0..200 {
        if list().len() >= count {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let files = list();
    assert_eq!(files.len(), count, "{files:?}");
    files
}
