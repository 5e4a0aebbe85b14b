//! A programmable fault proxy between the S3 client and the S3 test server:
//! it forwards requests, and on object GETs it can answer 503 SlowDown,
//! reset the connection, cut the body after N bytes, stall, or flip a byte;
//! N times or forever. It listens on 127.0.0.1 (a port the OS picks) and
//! stops when dropped. It can also go down: the port then refuses connections.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What to do to an object GET.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answer `503 Slow Down` without asking the server.
    SlowDown,
    /// Close the connection with a reset, answering nothing.
    Reset,
    /// Send the headers and only this many body bytes, then close.
    CutBody(usize),
    /// Send the headers and a little body, then nothing (until the proxy stops).
    Stall,
    /// Flip one bit of the body byte at this offset.
    FlipByte(usize),
}

#[derive(Debug, Default)]
struct Plan {
    fault: Option<Fault>,
    /// `None`: forever.
    remaining: Option<usize>,
}

/// A running fault proxy.
#[derive(Debug)]
pub struct FaultProxy {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    plan: Arc<Mutex<Plan>>,
    object_gets: Arc<AtomicUsize>,
    stop: watch::Sender<bool>,
    down: watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FaultProxy {
    /// Starts a proxy in front of `upstream` (`http://127.0.0.1:PORT`).
    pub fn start(upstream: &str) -> Self {
        let upstream = upstream.trim_start_matches("http://").to_owned();
        let std_listener =
            std::net::TcpListener::bind("127.0.0.1:0").expect("bind the fault proxy");
        std_listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let port = std_listener.local_addr().expect("proxy address").port();
        let plan = Arc::new(Mutex::new(Plan::default()));
        let object_gets = Arc::new(AtomicUsize::new(0));
        let (stop, stop_rx) = watch::channel(false);
        let (down, down_rx) = watch::channel(false);
        let (plan_c, gets_c) = (plan.clone(), object_gets.clone());
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("proxy runtime");
            runtime.block_on(serve(
                std_listener,
                upstream,
                plan_c,
                gets_c,
                stop_rx,
                down_rx,
            ));
        });
        Self {
            endpoint: format!("http://127.0.0.1:{port}"),
            plan,
            object_gets,
            stop,
            down,
            thread: Some(thread),
        }
    }

    /// Applies `fault` to the next `times` object GETs (`None`: all of them).
    pub fn inject(&self, fault: Fault, times: Option<usize>) {
        if let Ok(mut plan) = self.plan.lock() {
            *plan = Plan {
                fault: Some(fault),
                remaining: times,
            };
        }
    }

    /// No more faults.
    pub fn heal(&self) {
        if let Ok(mut plan) = self.plan.lock() {
            *plan = Plan::default();
        }
    }

    /// Object GETs seen so far (faulted or not).
    pub fn object_gets(&self) -> usize {
        self.object_gets.load(Ordering::SeqCst)
    }

    /// Closes the port: connections are refused, as when the server is down.
    pub fn go_down(&self) {
        let _ = self.down.send(true);
        // Give the accept loop a moment to drop the listener.
        std::thread::sleep(Duration::from_millis(100));
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn serve(
    listener: std::net::TcpListener,
    upstream: String,
    plan: Arc<Mutex<Plan>>,
    gets: Arc<AtomicUsize>,
    mut stop: watch::Receiver<bool>,
    mut down: watch::Receiver<bool>,
) {
    let Ok(listener) = TcpListener::from_std(listener) else {
        return;
    };
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = down.changed() => {
                drop(listener);
                let _ = stop.changed().await;
                return;
            }
            accepted = listener.accept() => {
                let Ok((client, _)) = accepted else { continue };
                let (upstream, plan, gets, stop) = (upstream.clone(), plan.clone(), gets.clone(), stop.clone());
                tokio::spawn(async move {
                    let _ = handle(client, &upstream, &plan, &gets, stop).await;
                });
            }
        }
    }
}

/// Reads one HTTP message head and its Content-Length body.
async fn read_message(stream: &mut TcpStream) -> std::io::Result<Option<(String, Vec<u8>)>> {
    let mut data = Vec::new();
    let mut buf = [0u8; 8192];
    let head_end = loop {
        if let Some(pos) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(None);
        }
        data.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
    let length = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let mut body = data[head_end..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&buf[..n]);
    }
    Ok(Some((head, body)))
}

/// The head with `Connection: close`, so that every request gets its own connection.
fn closing(head: &str) -> String {
    let mut lines: Vec<&str> = head
        .trim_end()
        .lines()
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .collect();
    lines.push("Connection: close");
    format!("{}\r\n\r\n", lines.join("\r\n"))
}

async fn handle(
    mut client: TcpStream,
    upstream: &str,
    plan: &Mutex<Plan>,
    gets: &AtomicUsize,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let Some((head, body)) = read_message(&mut client).await? else {
        return Ok(());
    };
    let request_line = head.lines().next().unwrap_or_default().to_owned();
    let mut parts = request_line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    // An object GET: /bucket/key, not a listing (?list-type=...).
    let path = target.split('?').next().unwrap_or("");
    let is_object_get = method == "GET"
        && path.trim_start_matches('/').contains('/')
        && !target.contains("list-type");
    let fault = if is_object_get {
        gets.fetch_add(1, Ordering::SeqCst);
        let mut plan = plan
            .lock()
            .map_err(|_| std::io::Error::other("plan lock"))?;
        match (plan.fault, plan.remaining) {
            (Some(fault), None) => Some(fault),
            (Some(fault), Some(n)) if n > 0 => {
                plan.remaining = Some(n - 1);
                Some(fault)
            }
            _ => None,
        }
    } else {
        None
    };
    match fault {
        Some(Fault::SlowDown) => {
            let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>";
            let response = format!(
                "HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            client.write_all(response.as_bytes()).await?;
            return client.shutdown().await;
        }
        Some(Fault::Reset) => {
            client.set_zero_linger()?;
            return Ok(());
        }
        _ => {}
    }
    let mut server = TcpStream::connect(upstream).await?;
    server.write_all(closing(&head).as_bytes()).await?;
    server.write_all(&body).await?;
    let mut response = Vec::new();
    server.read_to_end(&mut response).await?;
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(response.len(), |p| p + 4);
    let (response_head, response_body) = response.split_at(split);
    let response_head = closing(&String::from_utf8_lossy(response_head));
    let mut response_body = response_body.to_vec();
    match fault {
        Some(Fault::CutBody(after)) => {
            client.write_all(response_head.as_bytes()).await?;
            client
                .write_all(&response_body[..after.min(response_body.len())])
                .await?;
            client.set_zero_linger()?;
            Ok(())
        }
        Some(Fault::Stall) => {
            client.write_all(response_head.as_bytes()).await?;
            client
                .write_all(&response_body[..100.min(response_body.len())])
                .await?;
            // Nothing more until the proxy stops (bounded).
            let _ = tokio::time::timeout(Duration::from_secs(120), stop.changed()).await;
            Ok(())
        }
        Some(Fault::FlipByte(at)) => {
            if let Some(byte) = response_body.get_mut(at) {
                *byte ^= 0x01;
            }
            client.write_all(response_head.as_bytes()).await?;
            client.write_all(&response_body).await?;
            client.shutdown().await
        }
        _ => {
            client.write_all(response_head.as_bytes()).await?;
            client.write_all(&response_body).await?;
            client.shutdown().await
        }
    }
}
